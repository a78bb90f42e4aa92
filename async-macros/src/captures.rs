//! Which variables of the enclosing function a `reduce!` closure uses: those are the values
//! that travel to the workers with each task.

use std::collections::BTreeSet;

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};
use syn::{ExprClosure, Ident};

use crate::scope::pattern_names;

/// The free variables of `closure`, in order of first use, each with the span of that use.
pub fn free_variables(closure: &ExprClosure) -> Vec<Ident> {
    let mut finder = FreeVariables::default();
    for input in &closure.inputs {
        finder
            .bound
            .extend(pattern_names(input).into_iter().map(|i| i.to_string()));
    }
    finder.visit_expr(&closure.body);
    finder
        .used
        .into_iter()
        .filter(|ident| !finder.bound.contains(&ident.to_string()))
        .collect()
}

#[derive(Default)]
struct FreeVariables {
    used: Vec<Ident>,
    bound: BTreeSet<String>,
}

impl FreeVariables {
    fn use_ident(&mut self, ident: &Ident) {
        if !self.used.iter().any(|seen| seen == ident) {
            self.used.push(ident.clone());
        }
    }

    /// Macro arguments are opaque tokens: any identifier in them may name a variable.
    fn scan_tokens(&mut self, tokens: &TokenStream) {
        for tree in tokens.clone() {
            match tree {
                TokenTree::Ident(ident) => self.use_ident(&ident),
                TokenTree::Group(group) => self.scan_tokens(&group.stream()),
                _ => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for FreeVariables {
    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        if let (None, Some(ident)) = (&path.qself, path.path.get_ident()) {
            self.use_ident(ident);
        }
        visit::visit_expr_path(self, path);
    }

    fn visit_pat(&mut self, pat: &'ast syn::Pat) {
        // Every pattern inside the closure binds its own names (lets, loops, arms, closures).
        self.bound
            .extend(pattern_names(pat).into_iter().map(|i| i.to_string()));
        visit::visit_pat(self, pat);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.scan_tokens(&mac.tokens);
    }

    fn visit_item(&mut self, _item: &'ast syn::Item) {
        // Items cannot capture locals.
    }
}
