//! A `?` in a `reduce!` closure: the closure is a task whose value goes back to the driver, so
//! an error it would return has nowhere to go, and rustc's own error blames the attribute.

use syn::visit::Visit;
use syn::{Expr, ExprClosure, ReturnType};

use super::Rewriter;

impl Rewriter<'_> {
    /// Refuses each `?` of the closure's own body, at the `?`. `None` after an error.
    pub(super) fn refuse_try_in_closure(&mut self, closure: &ExprClosure) -> Option<()> {
        if returns_result(closure) {
            return Some(());
        }
        let mut tries = Tries(Vec::new());
        tries.visit_expr(&closure.body);
        for question in &tries.0 {
            self.errors.at(
                question,
                "`?` cannot leave a reduce! closure: it is a task on the workers, whose value goes \
                 back to the driver, and an error has nowhere to go: handle it here \
                 (`.unwrap_or(..)`, `match`), or `.expect(\"why\")` to fail the task, which the \
                 driver counts as failed, giving the work to other workers and ending the run \
                 with your message if it keeps failing",
            );
        }
        tries.0.is_empty().then_some(())
    }
}

/// The `?`s of a body, not those of the closures, async blocks and items inside it, which
/// return from those.
struct Tries(Vec<syn::token::Question>);

impl<'ast> Visit<'ast> for Tries {
    fn visit_expr_try(&mut self, expr: &'ast syn::ExprTry) {
        self.0.push(expr.question_token);
        syn::visit::visit_expr_try(self, expr);
    }

    fn visit_expr_closure(&mut self, _: &'ast ExprClosure) {}

    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}

    fn visit_expr_try_block(&mut self, _: &'ast syn::ExprTryBlock) {}

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// Whether the closure says it returns a `Result` or an `Option` (a value an asynchronous
/// reduce! may return, and `?` then leaves the closure with): by a declared return type, or
/// by a body ending in `Ok(..)`, `Err(..)`, `Some(..)` or `None`.
fn returns_result(closure: &ExprClosure) -> bool {
    matches!(closure.output, ReturnType::Type(..)) || ends_in_variant(&closure.body)
}

fn ends_in_variant(body: &Expr) -> bool {
    let is_variant = |path: &syn::Path| {
        path.segments.last().is_some_and(|last| {
            ["Ok", "Err", "Some", "None"]
                .iter()
                .any(|v| last.ident == v)
        })
    };
    match body {
        Expr::Call(call) => {
            matches!(call.func.as_ref(), Expr::Path(func) if is_variant(&func.path))
        }
        Expr::Path(path) => is_variant(&path.path),
        Expr::Paren(paren) => ends_in_variant(&paren.expr),
        Expr::Block(block) => match block.block.stmts.last() {
            Some(syn::Stmt::Expr(tail, None)) => ends_in_variant(tail),
            _ => false,
        },
        _ => false,
    }
}
