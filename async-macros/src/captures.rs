//! Which variables of the enclosing function a `reduce!` closure uses: those are the values
//! that travel to the workers with each task.

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};
use syn::{Block, ExprClosure, Ident, Pat, Stmt};

use crate::scope::{pattern_names, refutable_names};

/// The free variables of `closure`, in order of first use, each with the span of that use: the
/// names it uses where no binding of its own is in scope, as Rust scopes them (a nested
/// closure's parameter `a` does not hide a later use of an outer `a`).
pub fn free_variables(closure: &ExprClosure) -> Vec<Ident> {
    let mut finder = FreeVariables::default();
    finder.visit_expr_closure(closure);
    finder.used
}

#[derive(Default)]
struct FreeVariables {
    used: Vec<Ident>,
    /// The names bound inside the closure, innermost scope last.
    scopes: Vec<Vec<String>>,
}

impl FreeVariables {
    fn use_ident(&mut self, ident: &Ident) {
        let name = ident.to_string();
        let bound = self.scopes.iter().any(|scope| scope.contains(&name));
        if !bound && !self.used.iter().any(|seen| seen == ident) {
            self.used.push(ident.clone());
        }
    }

    fn bind(&mut self, names: Vec<Ident>) {
        if self.scopes.is_empty() {
            self.scopes.push(Vec::new());
        }
        let scope = self.scopes.last_mut().expect("a scope");
        scope.extend(names.into_iter().map(|name| name.to_string()));
    }

    /// Visits `body` in a scope of its own, where `pat`'s names are bound.
    fn scoped(&mut self, pats: &[&Pat], refutable: bool, body: impl FnOnce(&mut Self)) {
        self.scopes.push(Vec::new());
        for pat in pats {
            let names = if refutable {
                refutable_names(pat)
            } else {
                pattern_names(pat)
            };
            self.bind(names);
        }
        body(self);
        self.scopes.pop();
    }

    /// Macro arguments are opaque tokens: any identifier in them may name a variable, and so
    /// may an inline argument of a formatting macro's format string (`format!("{s}")`).
    fn scan_macro(&mut self, name: Option<&Ident>, tokens: &TokenStream) {
        if let Some(literal) = name.and_then(|name| format_string(name, tokens)) {
            for argument in inline_arguments(&literal.to_string()) {
                self.use_ident(&Ident::new(&argument, literal.span()));
            }
        }
        let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
        let dot = |j: Option<usize>| matches!(j.map(|j| &trees[j]), Some(TokenTree::Punct(p)) if p.as_char() == '.');
        for (i, tree) in trees.iter().enumerate() {
            match tree {
                // After a single `.` a name is a field's or a method's (`s.x`, `v.len()`), not
                // a variable; after `..` it is a range's end.
                TokenTree::Ident(_) if dot(i.checked_sub(1)) && !dot(i.checked_sub(2)) => {}
                TokenTree::Ident(ident) => self.use_ident(ident),
                TokenTree::Group(group) => {
                    // A nested invocation, `name!(...)`: its name comes two trees before.
                    let before = |back: usize| i.checked_sub(back).map(|j| &trees[j]);
                    let nested = match (before(2), before(1)) {
                        (Some(TokenTree::Ident(name)), Some(TokenTree::Punct(bang)))
                            if bang.as_char() == '!' =>
                        {
                            Some(name)
                        }
                        _ => None,
                    };
                    self.scan_macro(nested, &group.stream());
                }
                _ => {}
            }
        }
    }
}

/// The format string of a call of a standard formatting macro: its argument at the place the
/// macro takes one, when that argument is a string literal alone.
fn format_string(name: &Ident, tokens: &TokenStream) -> Option<proc_macro2::Literal> {
    let position = match name.to_string().as_str() {
        "format" | "format_args" | "print" | "println" | "eprint" | "eprintln" | "panic"
        | "unreachable" | "todo" | "unimplemented" => 0,
        "write" | "writeln" | "assert" | "debug_assert" => 1,
        "assert_eq" | "assert_ne" | "debug_assert_eq" | "debug_assert_ne" => 2,
        _ => return None,
    };
    let mut arguments = vec![Vec::new()];
    for tree in tokens.clone() {
        match &tree {
            TokenTree::Punct(comma) if comma.as_char() == ',' => arguments.push(Vec::new()),
            _ => arguments.last_mut().expect("one").push(tree),
        }
    }
    match arguments.get(position).map(Vec::as_slice) {
        Some([TokenTree::Literal(literal)]) => Some(literal.clone()),
        _ => None,
    }
}

/// The names a string literal's `{name}` and `{name:spec}` placeholders use (`{{` escapes).
fn inline_arguments(literal: &str) -> Vec<String> {
    if !literal.ends_with('"') {
        return Vec::new();
    }
    let mut names = Vec::new();
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '{' {
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            continue;
        }
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_'))
                .collect();
        let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if is_name && matches!(chars.peek(), Some('}' | ':')) {
            names.push(name);
        }
    }
    names
}

impl<'ast> Visit<'ast> for FreeVariables {
    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        if let (None, Some(ident)) = (&path.qself, path.path.get_ident()) {
            self.use_ident(ident);
        }
        visit::visit_expr_path(self, path);
    }

    fn visit_block(&mut self, block: &'ast Block) {
        // A `let` binds its names for the statements after it.
        self.scoped(&[], false, |this| {
            for stmt in &block.stmts {
                match stmt {
                    Stmt::Local(local) => {
                        if let Some(init) = &local.init {
                            this.visit_expr(&init.expr);
                            if let Some((_, diverge)) = &init.diverge {
                                this.visit_expr(diverge);
                            }
                        }
                        this.bind(pattern_names(&local.pat));
                    }
                    stmt => this.visit_stmt(stmt),
                }
            }
        });
    }

    fn visit_expr_closure(&mut self, closure: &'ast ExprClosure) {
        let inputs: Vec<&Pat> = closure.inputs.iter().collect();
        self.scoped(&inputs, false, |this| this.visit_expr(&closure.body));
    }

    fn visit_expr_for_loop(&mut self, for_loop: &'ast syn::ExprForLoop) {
        self.visit_expr(&for_loop.expr);
        self.scoped(&[&for_loop.pat], false, |this| {
            this.visit_block(&for_loop.body)
        });
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        self.scoped(&[&arm.pat], true, |this| {
            if let Some((_, guard)) = &arm.guard {
                this.visit_expr(guard);
            }
            this.visit_expr(&arm.body);
        });
    }

    fn visit_expr_if(&mut self, if_expr: &'ast syn::ExprIf) {
        // An `if let` binds its names for the first branch only.
        self.scoped(&[], false, |this| {
            this.visit_expr(&if_expr.cond);
            this.visit_block(&if_expr.then_branch);
        });
        if let Some((_, else_branch)) = &if_expr.else_branch {
            self.visit_expr(else_branch);
        }
    }

    fn visit_expr_while(&mut self, while_loop: &'ast syn::ExprWhile) {
        self.scoped(&[], false, |this| {
            this.visit_expr(&while_loop.cond);
            this.visit_block(&while_loop.body);
        });
    }

    fn visit_expr_let(&mut self, let_expr: &'ast syn::ExprLet) {
        self.visit_expr(&let_expr.expr);
        self.bind(refutable_names(&let_expr.pat));
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let name = mac.path.segments.last().map(|segment| &segment.ident);
        self.scan_macro(name, &mac.tokens);
    }

    fn visit_item(&mut self, _item: &'ast syn::Item) {
        // Items cannot capture locals.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(closure: &str) -> Vec<String> {
        let closure: ExprClosure = syn::parse_str(closure).expect("a closure");
        free_variables(&closure)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_nested_closure_parameter_hides_only_its_own_body() {
        assert_eq!(
            free("|p| vs.iter().map(|a| a * 2.0).sum::<f64>() + a"),
            ["vs", "a"]
        );
    }

    #[test]
    fn a_let_binds_the_statements_after_it_and_not_its_own_initializer() {
        assert_eq!(free("|p| { let x = x + 1.0; x * y }"), ["x", "y"]);
        assert_eq!(free("|p| { { let w = 1.0; w }; w }"), ["w"]);
    }

    #[test]
    fn match_arms_and_if_lets_bind_their_names_in_their_branch_only() {
        assert_eq!(
            free("|p| match o { Some(v) => v, None => v + d }"),
            ["o", "v", "d"]
        );
        assert_eq!(free("|p| if let Some(v) = o { v } else { v }"), ["o", "v"]);
        assert_eq!(free("|p| { for i in 0..n { i; } i }"), ["n", "i"]);
    }

    #[test]
    fn macro_arguments_count_their_identifiers_unless_bound() {
        assert_eq!(free("|p| { let s = 1; format!(\"{}{}\", s, t) }"), ["t"]);
        assert_eq!(
            free("|p| format!(\"{s} {{x}} {t:>4} {0} {}\", u)"),
            ["s", "t", "u"]
        );
        // Only a formatting macro's format string has inline arguments.
        assert_eq!(
            free("|p| assert_eq!(\"{t}\".len(), 3)"),
            Vec::<String>::new()
        );
        assert_eq!(free("|p| vec![\"{t}\".to_string()]"), Vec::<String>::new());
        // Fields and methods are not variables; a range's end is.
        assert_eq!(
            free("|p| assert!(s.x > 0.0 && (0..n).contains(&k))"),
            ["s", "n", "k"]
        );
        assert_eq!(free("|p| vec![(\"{t}\")]"), Vec::<String>::new());
        assert_eq!(free("|p| assert!(ok, \"bad {v}\")"), ["v", "ok"]);
        assert_eq!(free("|p| vec![format!(\"{w}\")]"), ["format", "w"]);
    }
}
