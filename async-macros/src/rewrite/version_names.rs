//! The names of broadcast variables written as string literals in the driver's code:
//! `cx.version("w")`, `meta.version_of("w")`, `cx.value_at("w", v)`.

use syn::{Expr, ExprMethodCall, Lit};

use super::types::is_driver;
use super::Rewriter;
use crate::expand::variable_name;
use crate::scope::Origin;

impl Rewriter<'_> {
    /// Refuses a literal name that no `broadcast!` of the function publishes: rustc accepts
    /// any string, and the run would get `None` for it. Only the driver's `version` and
    /// `value_at` (methods of the author's own types may share their names) and a result's
    /// `version_of`, whose receiver the macro cannot type, with a literal name.
    pub(super) fn refuse_unknown_version_name(&mut self, call: &ExprMethodCall) {
        let arguments = match call.method.to_string().as_str() {
            "version" if self.on_the_driver(&call.receiver) => 1,
            "value_at" if self.on_the_driver(&call.receiver) => 2,
            "version_of" => 1,
            _ => return,
        };
        if call.args.len() != arguments || self.broadcast_somewhere.is_empty() {
            return;
        }
        let Some(Expr::Lit(syn::ExprLit {
            lit: Lit::Str(name),
            ..
        })) = call.args.first()
        else {
            return;
        };
        let mut known: Vec<String> = Vec::new();
        for var in self.broadcast_somewhere.iter().map(variable_name) {
            if !known.contains(&var) {
                known.push(var);
            }
        }
        let value = name.value();
        if known.contains(&value) {
            return;
        }
        let list = known
            .iter()
            .map(|var| format!("`{var}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let are = if known.len() == 1 {
            "the broadcast variable is"
        } else {
            "the broadcast variables are"
        };
        self.errors.at(
            name,
            format!(
                "no broadcast! variable is called `{value}`; {are} {list} (a version is \
                 named by its variable's name)"
            ),
        );
    }

    /// Whether `receiver` is the driver: its parameter, or a variable typed `Driver`.
    fn on_the_driver(&self, receiver: &Expr) -> bool {
        match receiver {
            Expr::Paren(paren) => self.on_the_driver(&paren.expr),
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Deref(_),
                expr,
                ..
            }) => self.on_the_driver(expr),
            Expr::Path(path) if path.qself.is_none() => path
                .path
                .get_ident()
                .and_then(|ident| self.scopes.lookup(ident))
                .is_some_and(|binding| {
                    binding.origin == Origin::Driver || binding.ty.as_ref().is_some_and(is_driver)
                }),
            _ => false,
        }
    }
}
