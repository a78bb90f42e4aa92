//! Pinned reads `w.at(v)` of a broadcast variable: bound in a `reduce!` closure to the
//! version `v` the driver names, and refused in the driver's own code.

use proc_macro2::TokenStream;
use quote::{format_ident, ToTokens};
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Ident};

use super::Rewriter;
use crate::expand::Read;
use crate::scope::same;

impl Rewriter<'_> {
    /// Replaces each `w.at(v)` of a broadcast variable `w` in the closure with a binding of its
    /// own, read at version `v` (evaluated on the driver); `None` after an error.
    pub(super) fn pin_reads(&mut self, closure: &mut syn::ExprClosure) -> Option<Vec<Read>> {
        let own: Vec<String> = closure
            .inputs
            .iter()
            .flat_map(crate::scope::pattern_names)
            .map(|i| crate::scope::key(&i))
            .collect();
        // Only the bindings a broadcast! published: a `let` that shadows one is the author's own.
        let broadcast: Vec<Ident> = self
            .broadcast_vars
            .iter()
            .filter(|var| {
                self.scopes
                    .lookup(var)
                    .is_some_and(|b| b.broadcast.is_some())
            })
            .cloned()
            .collect();
        // Broadcast by a `broadcast!` below this reduce!: here a capture, with no versions.
        let not_yet: Vec<Ident> = self
            .broadcast_somewhere
            .iter()
            .filter(|var| {
                self.scopes
                    .lookup(var)
                    .is_some_and(|b| b.broadcast.is_none())
            })
            .cloned()
            .collect();
        let mut finder = PinFinder {
            broadcast: &broadcast,
            not_yet: &not_yet,
            found: Vec::new(),
            unpublished: Vec::new(),
            errors: Vec::new(),
            own,
        };
        finder.visit_expr_mut(&mut closure.body);
        let PinFinder {
            found,
            unpublished,
            errors,
            ..
        } = finder;
        let mut failed = !errors.is_empty();
        for error in errors {
            self.errors.push(error);
        }
        let inside = bound_inside(closure);
        for call in unpublished {
            failed |= self.refuse_read_of_unpublished(&call, &inside, ReadSite::Reduce);
        }
        let mut reads = Vec::new();
        for (binding, var, version) in found {
            let Some(ty) = self.scopes.lookup(&var).and_then(|b| b.ty.clone()) else {
                self.errors.at(
                    &var,
                    format!(
                        "`{var}.at(..)` reads a broadcast variable whose type the macro cannot see: \
                         declare it with its type, `let mut {var}: TYPE = ...;`"
                    ),
                );
                return None;
            };
            let site = self
                .broadcast_vars
                .iter()
                .find(|v| same(v, &var))
                .map_or_else(|| var.span(), Ident::span);
            reads.push(Read {
                name: binding,
                var,
                ty,
                site,
                at: Some(version),
            });
        }
        (!failed).then_some(reads)
    }

    /// Refuses `x.at(v)` for a variable `x` of the function that no `broadcast!` publishes,
    /// where rustc would say no more than that its type has no method `at`; whether it did.
    /// A name bound `inside` the closure around the read, or an item, is left to rustc.
    fn refuse_read_of_unpublished(
        &mut self,
        call: &syn::ExprMethodCall,
        inside: &[String],
        site: ReadSite,
    ) -> bool {
        let Some(var) = receiver_variable(call) else {
            return false;
        };
        let is_variable = self
            .scopes
            .lookup(&var)
            .is_some_and(|binding| !binding.origin.is_block_item());
        if !is_variable || inside.contains(&crate::scope::key(&var)) {
            return false;
        }
        let read = match site {
            ReadSite::Reduce => "above this reduce!".to_string(),
            ReadSite::Driver => format!(
                "and read its older versions inside a reduce! closure, or here on the driver \
                 with `{driver}.value_at(\"{var}\", v)`",
                driver = self.driver
            ),
        };
        self.errors.at(
            call,
            format!(
                "`{var}.at(..)` reads an older version of a broadcast variable, but `{var}` is never \
                 broadcast: publish it with `broadcast!({var});` in the training loop, {read} (a \
                 method of your own named `at`: call it as `Type::at(&{var}, ..)`)"
            ),
        );
        true
    }

    /// Refuses `w.at(v)` in the driver's code: of a broadcast variable, a pinned read is
    /// served by the workers' caches inside a `reduce!` closure only; of a variable no
    /// `broadcast!` publishes, there is no version to read. Either way rustc would say no
    /// more than that the type has no method `at`.
    pub(super) fn refuse_pinned_read_on_the_driver(&mut self, call: &syn::ExprMethodCall) {
        let Some(var) = receiver_variable(call).filter(|_| call.method == "at") else {
            return;
        };
        let published = self
            .scopes
            .lookup(&var)
            .is_some_and(|binding| binding.broadcast.is_some());
        if !published {
            // A variable broadcast further down, or a `let` that shadows a broadcast one, is
            // not "never broadcast": left to rustc.
            let broadcast_somewhere = self.broadcast_somewhere.iter().any(|b| same(b, &var));
            if call.args.len() == 1 && !broadcast_somewhere {
                let inside = self
                    .closure_scopes
                    .first()
                    .map_or_else(Vec::new, |&depth| self.scopes.names_from(depth));
                self.refuse_read_of_unpublished(call, &inside, ReadSite::Driver);
            }
            return;
        }
        let driver = &self.driver;
        self.errors.at(
            call,
            format!(
                "`{var}.at(..)` reads an older version of `{var}` inside a reduce! closure only, \
                 where the workers serve it; here, on the driver, `{var}` is the latest version: \
                 read a version the driver still keeps with `{driver}.value_at(\"{var}\", v)` \
                 (an `Option`), or move the read into the closure (a method of your own named \
                 `at`: call it as `Type::at(&{var}, ..)`)"
            ),
        );
    }
}

/// Where a read `x.at(v)` stands, which says how to read an older version there.
#[derive(Clone, Copy)]
enum ReadSite {
    /// In a `reduce!` closure.
    Reduce,
    /// In the driver's own code.
    Driver,
}

/// Finds the pinned reads `w.at(v)` of broadcast variables in a closure's body.
struct PinFinder<'b> {
    broadcast: &'b [Ident],
    /// Variables broadcast only further down the function: no version of them exists here.
    not_yet: &'b [Ident],
    /// The binding that replaces each, the variable, and the version expression.
    found: Vec<(Ident, Ident, Expr)>,
    /// The calls `x.at(v)` of a variable broadcast nowhere, nor the closure's own parameter.
    unpublished: Vec<syn::ExprMethodCall>,
    errors: Vec<syn::Error>,
    /// The closure's own parameters, which the driver cannot see.
    own: Vec<String>,
}

impl VisitMut for PinFinder<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::MethodCall(call) = expr {
            let var = receiver_variable(call);
            if let Some(var) = var
                .as_ref()
                .filter(|v| call.method == "at" && self.not_yet.iter().any(|b| same(b, v)))
            {
                self.errors.push(syn::Error::new_spanned(
                    &*call,
                    format!(
                        "`{var}.at(..)` reads an older version of `{var}`, and versions exist once \
                         `broadcast!({var})` publishes them, below this reduce!: here `{var}` is \
                         a captured value. Put `broadcast!({var});` above this reduce!"
                    ),
                ));
                return;
            }
            if let Some(var) = var
                .clone()
                .filter(|v| call.method == "at" && self.broadcast.iter().any(|b| same(b, v)))
            {
                if call.args.len() != 1 {
                    self.errors.push(syn::Error::new_spanned(
                        &*call,
                        format!(
                            "`{var}.at(v)` takes one version number, `v`: write e.g. `{var}.at(v)`"
                        ),
                    ));
                    return;
                }
                let version = call.args[0].clone();
                let mut used = Vec::new();
                collect_idents(version.to_token_stream(), &mut used);
                if let Some(own) = used
                    .iter()
                    .find(|i| self.own.contains(&crate::scope::key(i)))
                {
                    self.errors.push(syn::Error::new_spanned(
                        own,
                        format!(
                            "the version in `{var}.at(..)` is computed on the driver before the task goes out, \
                             so it cannot use `{own}`, which exists only on the worker: compute the version \
                             before the reduce! (e.g. `let v: u64 = cx.version(\"{var}\").unwrap();`)"
                        ),
                    ));
                    return;
                }
                let binding = format_ident!(
                    "__async_pinned_{}_{}",
                    var,
                    self.found.len(),
                    span = var.span()
                );
                self.found.push((binding.clone(), var, version));
                *expr = syn::parse_quote!(#binding);
                return;
            }
            let own = |v: &Ident| self.own.contains(&crate::scope::key(v));
            if var.is_some_and(|v| call.method == "at" && call.args.len() == 1 && !own(&v)) {
                self.unpublished.push(call.clone());
            }
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {}
}

/// The plain variable a method is called on: `w` in `w.at(v)`.
fn receiver_variable(call: &syn::ExprMethodCall) -> Option<Ident> {
    match &*call.receiver {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident().cloned(),
        _ => None,
    }
}

/// The names a closure's body binds (`let`, patterns), which shadow the function's.
fn bound_inside(closure: &syn::ExprClosure) -> Vec<String> {
    struct Bound(Vec<String>);
    impl<'ast> syn::visit::Visit<'ast> for Bound {
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            self.0.push(crate::scope::key(&pat.ident));
            syn::visit::visit_pat_ident(self, pat);
        }
    }
    let mut bound = Bound(Vec::new());
    syn::visit::Visit::visit_expr(&mut bound, &closure.body);
    bound.0
}

/// Every identifier in `tokens`.
fn collect_idents(tokens: TokenStream, out: &mut Vec<Ident>) {
    for tree in tokens {
        match tree {
            proc_macro2::TokenTree::Ident(ident) => out.push(ident),
            proc_macro2::TokenTree::Group(group) => collect_idents(group.stream(), out),
            _ => {}
        }
    }
}
