//! rustc's `unused_mut` for the training loop's variables. A resumed run restores each of
//! them before the loop, an assignment that makes every `let mut` look needed to rustc: a
//! variable the author's code plainly never changes (broadcast and read, captured) would lose
//! the warning. Such a variable gets it from a stand-in binding at the author's `mut x`.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Block, Expr, Ident, Macro, PatIdent, Stmt, Token};

use crate::rewrite::Dsl;
use crate::scope::{pattern_bindings, same};

/// Macros that only read their arguments, which are expressions (a format string first).
const READING_MACROS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "eprint",
    "eprintln",
    "format",
    "panic",
    "print",
    "println",
];

/// A function whose body declares, with `let mut`, each variable of `saved` (the ones a
/// resumed run restores) that `body` never changes: rustc then reports the author's `mut`
/// as unneeded, under the author's lint levels. `None` when there is none.
pub fn unused_mut_witness(body: &Block, saved: &[Ident]) -> Option<TokenStream> {
    let mut declared: Vec<&PatIdent> = Vec::new();
    for stmt in &body.stmts {
        if let Stmt::Local(local) = stmt {
            // A `#[cfg]` one may not exist: left to rustc's own check.
            let conditional = local.attrs.iter().any(|attr| attr.path().is_ident("cfg"));
            for binding in pattern_bindings(&local.pat) {
                declared.retain(|d| !same(&d.ident, &binding.ident));
                if binding.mutability.is_some() && binding.by_ref.is_none() && !conditional {
                    declared.push(binding);
                }
            }
        }
    }
    let bindings: Vec<TokenStream> = declared
        .into_iter()
        .filter(|binding| saved.iter().any(|var| same(var, &binding.ident)))
        .filter(|binding| never_changed(body, &binding.ident))
        .map(|binding| {
            let (mutability, name) = (&binding.mutability, &binding.ident);
            let here = Span::call_site();
            quote_spanned! {here=> let #mutability #name = 0_u8; let _ = &#name; }
        })
        .collect();
    if bindings.is_empty() {
        return None;
    }
    Some(quote! {
        #[allow(dead_code, clippy::all, clippy::pedantic, clippy::nursery)]
        fn __async_unused_mut() {
            #(#bindings)*
        }
    })
}

/// Whether `name` is bound once in `body` and no expression there can change it: conservative,
/// so that a variable changed in a way not seen here (a method taking `&mut self`, another
/// macro) never gets a false warning.
fn never_changed(body: &Block, name: &Ident) -> bool {
    let mut finder = Changes {
        name,
        bindings: 0,
        changed: false,
    };
    finder.visit_block(body);
    finder.bindings == 1 && !finder.changed
}

struct Changes<'a> {
    name: &'a Ident,
    /// The patterns that bind the name: another one would make its uses ambiguous.
    bindings: usize,
    changed: bool,
}

impl Changes<'_> {
    fn mentions(&self, expr: &Expr) -> bool {
        mentions(quote!(#expr), self.name)
    }
}

/// Whether `tokens` hold the identifier `name`, in nested groups too.
pub(crate) fn mentions(tokens: TokenStream, name: &Ident) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => same(&ident, name),
        TokenTree::Group(group) => mentions(group.stream(), name),
        _ => false,
    })
}

impl<'ast> Visit<'ast> for Changes<'_> {
    fn visit_expr(&mut self, expr: &'ast Expr) {
        let changes = match expr {
            Expr::Assign(assign) => self.mentions(&assign.left),
            Expr::Binary(binary) => {
                crate::captures::assigns(&binary.op) && self.mentions(&binary.left)
            }
            Expr::Reference(reference) => {
                reference.mutability.is_some() && self.mentions(&reference.expr)
            }
            // `&raw mut x`, and whatever syn does not read.
            Expr::RawAddr(_) | Expr::Verbatim(_) => self.mentions(expr),
            // The receiver may be borrowed mutably by the method.
            Expr::MethodCall(call) => self.mentions(&call.receiver),
            _ => false,
        };
        self.changed |= changes;
        visit::visit_expr(self, expr);
    }

    fn visit_pat_ident(&mut self, pat: &'ast PatIdent) {
        if same(&pat.ident, self.name) {
            self.bindings += 1;
        }
        // `ref mut` borrows the value it matches mutably.
        self.changed |= pat.by_ref.is_some() && pat.mutability.is_some();
        visit::visit_pat_ident(self, pat);
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        // The DSL only reads (a reduce! closure that changes a capture is refused).
        if Dsl::of(mac).is_some() || !mentions(mac.tokens.clone(), self.name) {
            return;
        }
        let reads_only = mac
            .path
            .get_ident()
            .is_some_and(|name| READING_MACROS.contains(&name.to_string().as_str()));
        let args = reads_only
            .then(|| {
                mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
                    .ok()
            })
            .flatten();
        match args {
            Some(args) => args.iter().for_each(|arg| self.visit_expr(arg)),
            None => self.changed = true,
        }
    }

    // Items in the body are scopes of their own.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}
