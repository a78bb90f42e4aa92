//! A `barrier!` rule or selection that reads the driver inside its closure: the closure is
//! kept for the next `reduce!`, which holds the driver mutably while it calls the closure, so
//! rustc reports E0502 at the `reduce!`, where the author wrote no `&mut`.

use syn::visit::{self, Visit};
use syn::{Expr, Ident};

use super::Rewriter;
use crate::scope::{pattern_names, same};

impl Rewriter<'_> {
    /// Refuses each use of the driver inside a closure of `expr`, at the use.
    pub(super) fn refuse_driver_in_rule(&mut self, expr: &Expr) {
        let mut finder = DriverUses {
            driver: &self.driver,
            closures: 0,
            found: Vec::new(),
        };
        finder.visit_expr(expr);
        let driver = &self.driver;
        for at in &finder.found {
            self.errors.at(
                at,
                format!(
                    "a barrier!'s rule runs while the reduce! it governs holds the driver, so it \
                     cannot read `{driver}`: use the worker table it is given \
                     (`|workers| workers.alive()`), or compute the value before the barrier! \
                     (`let n: usize = {driver}.workers().alive();`) and use `n`"
                ),
            );
        }
    }
}

/// The driver's name used inside a closure, where no binding of the closure shadows it.
struct DriverUses<'a> {
    driver: &'a Ident,
    closures: usize,
    found: Vec<Ident>,
}

impl<'ast> Visit<'ast> for DriverUses<'_> {
    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        // A closure that binds the name anywhere (`|cx| ..`, a `let` in it) is left to rustc.
        struct Binds<'b>(&'b Ident, bool);
        impl<'ast> Visit<'ast> for Binds<'_> {
            fn visit_pat(&mut self, pat: &'ast syn::Pat) {
                self.1 |= pattern_names(pat).iter().any(|name| same(name, self.0));
                visit::visit_pat(self, pat);
            }
        }
        let mut binds = Binds(self.driver, false);
        binds.visit_expr_closure(closure);
        if binds.1 {
            return;
        }
        self.closures += 1;
        visit::visit_expr_closure(self, closure);
        self.closures -= 1;
    }

    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        if self.closures > 0 && path.qself.is_none() {
            if let Some(ident) = path.path.get_ident().filter(|i| same(i, self.driver)) {
                self.found.push(ident.clone());
            }
        }
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}
