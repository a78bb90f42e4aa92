//! A `?` in a `reduce!` closure: the closure is a task whose value goes back to the driver, so
//! an error it would return has nowhere to go, and rustc's own error blames the attribute.

use syn::visit::Visit;
use syn::{ExprClosure, ReturnType};

use super::Rewriter;

impl Rewriter<'_> {
    /// Refuses each `?` of the closure's own body, at the `?`. `None` after an error.
    pub(super) fn refuse_try_in_closure(&mut self, closure: &ExprClosure) -> Option<()> {
        if matches!(closure.output, ReturnType::Type(..)) {
            return Some(());
        }
        let mut body = Body::default();
        body.visit_expr(&closure.body);
        if body.may_return_result {
            return Some(());
        }
        for question in &body.tries {
            self.errors.at(
                question,
                "`?` cannot leave a reduce! closure: it is a task on the workers, whose value goes \
                 back to the driver, and an error has nowhere to go: handle it here \
                 (`.unwrap_or(..)`, `match`), or `.expect(\"why\")` to fail the task, which the \
                 driver counts as failed, giving the work to other workers and ending the run \
                 with your message if it keeps failing (a closure meant to return a `Result` \
                 says so: `|part| -> Result<T, E> { .. }`)",
            );
        }
        body.tries.is_empty().then_some(())
    }
}

/// What a closure's own body holds, not counting the closures, async blocks and items inside
/// it, which return from themselves.
#[derive(Default)]
struct Body {
    /// Its `?`s.
    tries: Vec<syn::token::Question>,
    /// Whether it may return a `Result` or an `Option` (a value an asynchronous reduce! may
    /// return, and `?` then leaves the closure with): it names `Ok`, `Err`, `Some` or `None`,
    /// or returns early. Only a body that cannot is refused: a wrong guess there would refuse
    /// legal code, where rustc's own error is merely less clear.
    may_return_result: bool,
}

impl<'ast> Visit<'ast> for Body {
    fn visit_expr_try(&mut self, expr: &'ast syn::ExprTry) {
        self.tries.push(expr.question_token);
        syn::visit::visit_expr_try(self, expr);
    }

    fn visit_expr_return(&mut self, expr: &'ast syn::ExprReturn) {
        self.may_return_result = true;
        syn::visit::visit_expr_return(self, expr);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let variant = ["Ok", "Err", "Some", "None"];
        if path
            .segments
            .last()
            .is_some_and(|last| variant.iter().any(|v| last.ident == v))
        {
            self.may_return_result = true;
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_expr_closure(&mut self, _: &'ast ExprClosure) {}

    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}

    fn visit_expr_try_block(&mut self, _: &'ast syn::ExprTryBlock) {}

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}
