//! Bindings of the driver's name: the expansions and the checkpoints pass the driver by that
//! name, and would pass the new value (rustc then reports mismatched types at the parameter).
//! Every pattern of the body counts (`let`, `for`, `if let`, `while let`, a `match` arm), but
//! for a reborrow, `let cx = &mut *cx;` or `match &mut *cx { cx => ... }`, which is still the
//! driver.

use syn::visit::{self, Visit};
use syn::{Expr, Ident};

use crate::errors::Errors;
use crate::scope::same;

/// Refuses, at the name, each binding of `driver` in `block` that no expansion could use
/// safely. Closures and nested items bind their own parameters where no expansion stands.
pub fn refuse_driver_shadows(block: &syn::Block, driver: &Ident, errors: &mut Errors) {
    DriverShadows { driver, errors }.visit_block(block);
}

struct DriverShadows<'a> {
    driver: &'a Ident,
    errors: &'a mut Errors,
}

impl DriverShadows<'_> {
    fn is_driver(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Path(path) if path.path.get_ident().is_some_and(|i| same(i, self.driver)))
    }

    /// `&mut *cx` or `cx` itself: binding it keeps the driver under its name.
    fn is_reborrow(&self, init: &Expr) -> bool {
        self.is_deref_reborrow(init) || self.is_driver(init)
    }

    /// Exactly `&mut *cx`.
    fn is_deref_reborrow(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Reference(reference) if reference.mutability.is_some()
            && matches!(&*reference.expr, Expr::Unary(unary)
                if matches!(unary.op, syn::UnOp::Deref(_)) && self.is_driver(&unary.expr)))
    }

    /// The pattern `cx` alone: no `ref`, `mut` or `@` that would make it another value.
    fn is_bare_driver(&self, pat: &syn::Pat) -> bool {
        matches!(pat, syn::Pat::Ident(ident) if ident.by_ref.is_none()
            && ident.mutability.is_none()
            && ident.subpat.is_none()
            && same(&ident.ident, self.driver))
    }
}

impl<'ast> Visit<'ast> for DriverShadows<'_> {
    fn visit_local(&mut self, local: &'ast syn::Local) {
        match &local.init {
            Some(init) if self.is_reborrow(&init.expr) => visit::visit_local_init(self, init),
            _ => visit::visit_local(self, local),
        }
    }

    fn visit_expr_let(&mut self, let_expr: &'ast syn::ExprLet) {
        if self.is_reborrow(&let_expr.expr) {
            self.visit_expr(&let_expr.expr);
        } else {
            visit::visit_expr_let(self, let_expr);
        }
    }

    fn visit_expr_match(&mut self, match_expr: &'ast syn::ExprMatch) {
        if !self.is_deref_reborrow(&match_expr.expr) {
            return visit::visit_expr_match(self, match_expr);
        }
        self.visit_expr(&match_expr.expr);
        for arm in &match_expr.arms {
            if self.is_bare_driver(&arm.pat) {
                // The arm's `cx` is the driver reborrowed, as `let cx = &mut *cx;` is.
                if let Some((_, guard)) = &arm.guard {
                    self.visit_expr(guard);
                }
                self.visit_expr(&arm.body);
            } else {
                self.visit_arm(arm);
            }
        }
    }

    fn visit_pat_ident(&mut self, ident: &'ast syn::PatIdent) {
        let name = &ident.ident;
        if same(name, self.driver) {
            self.errors.at(
                name,
                format!(
                    "`{name}` is the driver, which #[async_optimizer] passes by this name to the \
                     runtime calls it writes: give this variable another name"
                ),
            );
        }
        visit::visit_pat_ident(self, ident);
    }

    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}

    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::format_ident;

    fn shadows(body: &str) -> usize {
        let block: syn::Block = syn::parse_str(body).expect("a block");
        let mut errors = Errors::default();
        refuse_driver_shadows(&block, &format_ident!("cx"), &mut errors);
        errors
            .into_compile_errors()
            .to_string()
            .matches("is the driver")
            .count()
    }

    #[test]
    fn every_binding_form_is_refused() {
        assert_eq!(shadows("{ let cx = 1; }"), 1);
        assert_eq!(shadows("{ for cx in 0..2 {} }"), 1);
        assert_eq!(shadows("{ if let Some(cx) = a {} }"), 1);
        assert_eq!(shadows("{ while let Some(r#cx) = a.pop() {} }"), 1);
        assert_eq!(shadows("{ match a { (x, cx @ 1..) => {} _ => {} } }"), 1);
        assert_eq!(shadows("{ if let Some(a) = b && let Some(cx) = a {} }"), 1);
        // A match arm binding `cx` is a reborrow only of `&mut *cx`, and only as `cx` alone.
        assert_eq!(shadows("{ match &mut *other { cx => {} } }"), 1);
        assert_eq!(shadows("{ match &*cx { cx => {} } }"), 1);
        assert_eq!(
            shadows("{ match &mut *cx { ref cx => {} mut cx => {} cx @ _ => {} } }"),
            3
        );
        assert_eq!(shadows("{ match &mut *cx { cx => { let cx = 1; } } }"), 1);
    }

    #[test]
    fn reborrows_closures_and_items_are_not() {
        assert_eq!(shadows("{ let cx = &mut *cx; let cx = cx; }"), 0);
        assert_eq!(shadows("{ if let cx = &mut *cx {} }"), 0);
        assert_eq!(
            shadows("{ match &mut *cx { cx if a => { let cx = &mut *cx; } cx => {} } }"),
            0
        );
        assert_eq!(
            shadows("{ let f = |cx: usize| { let cx = cx + 1; cx }; }"),
            0
        );
        assert_eq!(shadows("{ fn scale(cx: usize) -> usize { cx } }"), 0);
        assert_eq!(shadows("{ let t = async { let cx = 1; }; }"), 0);
    }
}
