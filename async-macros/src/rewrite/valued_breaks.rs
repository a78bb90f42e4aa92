//! The `break value`s that leave the training loop, which a stop rule's plain `break` cannot
//! give.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Expr, Lifetime};

/// The `break value`s that leave a loop: unlabelled ones outside its nested loops, and those
/// that name its label; not those inside closures or items.
pub(super) struct ValuedBreaks {
    pub(super) label: Option<Lifetime>,
    pub(super) depth: usize,
    pub(super) found: Vec<TokenStream>,
}

impl<'ast> syn::visit::Visit<'ast> for ValuedBreaks {
    fn visit_expr_break(&mut self, brk: &'ast syn::ExprBreak) {
        let leaves = match &brk.label {
            None => self.depth == 0,
            Some(label) => self.label.as_ref() == Some(label),
        };
        // `break ()` gives the unit a plain `break` gives too.
        let unit = matches!(brk.expr.as_deref(), Some(Expr::Tuple(t)) if t.elems.is_empty());
        if leaves && brk.expr.is_some() && !unit {
            self.found.push(brk.to_token_stream());
        }
        syn::visit::visit_expr_break(self, brk);
    }

    fn visit_expr_loop(&mut self, inner: &'ast syn::ExprLoop) {
        self.depth += 1;
        syn::visit::visit_expr_loop(self, inner);
        self.depth -= 1;
    }

    fn visit_expr_while(&mut self, inner: &'ast syn::ExprWhile) {
        self.depth += 1;
        syn::visit::visit_expr_while(self, inner);
        self.depth -= 1;
    }

    fn visit_expr_for_loop(&mut self, inner: &'ast syn::ExprForLoop) {
        self.depth += 1;
        syn::visit::visit_expr_for_loop(self, inner);
        self.depth -= 1;
    }

    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}
