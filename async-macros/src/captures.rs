//! Which variables of the enclosing function a `reduce!` closure uses: those are the values
//! that travel to the workers with each task.

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};
use syn::{Block, ExprClosure, Ident, Pat, Stmt};

use crate::scope::{key, pattern_names, refutable_names, same};

/// The free variables of `closure`, in order of first use, each with the span of that use: the
/// names it uses where no binding of its own is in scope, as Rust scopes them (a nested
/// closure's parameter `a` does not hide a later use of an outer `a`).
pub fn free_variables(closure: &ExprClosure) -> Vec<Ident> {
    let mut finder = FreeVariables::default();
    finder.visit_expr_closure(closure);
    finder.used
}

/// The free variables `closure` assigns to (`x = ..`, `x += ..`, `x.f = ..`, `x[i] = ..`),
/// borrows mutably (`&mut x`) or changes through a method of the standard collections or of
/// `ndarray` that takes `&mut self` (`v.push(..)`, `w.fill(..)`, [`MUTATING_METHODS`]): on a
/// worker these change the task's own copy, never the driver's variable.
pub fn changed_variables(closure: &ExprClosure) -> Vec<Ident> {
    let mut finder = FreeVariables::default();
    finder.visit_expr_closure(closure);
    finder.changed
}

#[derive(Default)]
struct FreeVariables {
    used: Vec<Ident>,
    changed: Vec<Ident>,
    /// The names bound inside the closure, innermost scope last.
    scopes: Vec<Vec<String>>,
}

impl FreeVariables {
    fn use_ident(&mut self, ident: &Ident) {
        let name = key(ident);
        let bound = self.scopes.iter().any(|scope| scope.contains(&name));
        if !bound && !self.used.iter().any(|seen| same(seen, ident)) {
            self.used.push(ident.clone());
        }
    }

    /// `place` is assigned to or borrowed mutably: its variable, if free, is changed.
    fn change(&mut self, place: &syn::Expr) {
        let Some(root) = place_root(place) else {
            return;
        };
        let name = key(root);
        let bound = self.scopes.iter().any(|scope| scope.contains(&name));
        if !bound && !self.changed.iter().any(|seen| same(seen, root)) {
            self.changed.push(root.clone());
        }
    }

    fn bind(&mut self, names: Vec<Ident>) {
        if self.scopes.is_empty() {
            self.scopes.push(Vec::new());
        }
        let scope = self.scopes.last_mut().expect("a scope");
        scope.extend(names.iter().map(key));
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

/// The variable whose storage `place` is: `x` for `x`, `x.f`, `x[i]`, `(x)`.
fn place_root(place: &syn::Expr) -> Option<&Ident> {
    match place {
        syn::Expr::Path(path) if path.qself.is_none() => path.path.get_ident(),
        syn::Expr::Field(field) => place_root(&field.base),
        syn::Expr::Index(index) => place_root(&index.expr),
        syn::Expr::Paren(paren) => place_root(&paren.expr),
        _ => None,
    }
}

/// Methods of the standard collections (`Vec`, `VecDeque`, `String`, the maps and sets,
/// `Option`) and of `ndarray`'s arrays that take `&mut self`. Rust would refuse such a call on
/// a capture too, but as a borrow of a binding not declared `mut` (and suggests `mut v.push`);
/// named here, the error says why. Names that types commonly give a `&self` method (`apply`,
/// `get`, `take`) are left out.
const MUTATING_METHODS: &[&str] = &[
    "append",
    "as_mut_slice",
    "assign",
    "clear",
    "dedup",
    "dedup_by_key",
    "drain",
    "entry",
    "extend",
    "extend_from_slice",
    "fill",
    "first_mut",
    "get_mut",
    "get_or_insert",
    "insert",
    "iter_mut",
    "last_mut",
    "map_inplace",
    "mapv_inplace",
    "pop",
    "pop_back",
    "pop_front",
    "push",
    "push_back",
    "push_front",
    "push_str",
    "remove",
    "resize",
    "retain",
    "reverse",
    "scaled_add",
    "sort",
    "sort_by",
    "sort_by_key",
    "sort_unstable",
    "sort_unstable_by",
    "sort_unstable_by_key",
    "swap_remove",
    "truncate",
    "zip_mut_with",
];

/// Whether `op` assigns (`+=`, `-=`, ...).
pub(crate) fn assigns(op: &syn::BinOp) -> bool {
    use syn::BinOp::*;
    matches!(
        op,
        AddAssign(_)
            | SubAssign(_)
            | MulAssign(_)
            | DivAssign(_)
            | RemAssign(_)
            | BitXorAssign(_)
            | BitAndAssign(_)
            | BitOrAssign(_)
            | ShlAssign(_)
            | ShrAssign(_)
    )
}

/// One argument of a macro whose arguments are expressions: `value`, or `name = value`.
struct Argument {
    name: Option<Ident>,
    value: syn::Expr,
}

/// `mac`'s arguments when they are expressions separated by commas (a formatting macro's
/// `name = value` among them) or `value; count` (`vec![0.0; n]`); `None` for any other syntax.
fn expression_arguments(mac: &syn::Macro) -> Option<Vec<Argument>> {
    use syn::parse::ParseStream;
    use syn::punctuated::Punctuated;
    fn plain(input: ParseStream) -> syn::Result<Argument> {
        Ok(Argument {
            name: None,
            value: input.parse()?,
        })
    }
    fn named_or_plain(input: ParseStream) -> syn::Result<Argument> {
        if input.peek(Ident) && input.peek2(syn::Token![=]) && !input.peek2(syn::Token![==]) {
            let name = input.parse()?;
            input.parse::<syn::Token![=]>()?;
            return Ok(Argument {
                name: Some(name),
                value: input.parse()?,
            });
        }
        plain(input)
    }
    let formatting = mac
        .path
        .segments
        .last()
        .is_some_and(|segment| format_position(&segment.ident).is_some());
    // Only a formatting macro's `name = value` is a named argument, not an assignment.
    let argument = if formatting { named_or_plain } else { plain };
    let listed = mac.parse_body_with(|input: ParseStream| {
        Punctuated::<Argument, syn::Token![,]>::parse_terminated_with(input, argument)
    });
    if let Ok(arguments) = listed {
        return Some(arguments.into_iter().collect());
    }
    let repeated = mac.parse_body_with(|input: ParseStream| {
        let value: syn::Expr = input.parse()?;
        input.parse::<syn::Token![;]>()?;
        let count: syn::Expr = input.parse()?;
        Ok([value, count].map(|value| Argument { name: None, value }))
    });
    repeated.ok().map(Vec::from)
}

/// `matches!(value, pattern if guard)`'s parts.
fn matches_arguments(mac: &syn::Macro) -> Option<(syn::Expr, Pat, Option<syn::Expr>)> {
    mac.parse_body_with(|input: syn::parse::ParseStream| {
        let value = input.parse()?;
        input.parse::<syn::Token![,]>()?;
        let pat = Pat::parse_multi_with_leading_vert(input)?;
        let guard = if input.parse::<Option<syn::Token![if]>>()?.is_some() {
            Some(input.parse()?)
        } else {
            None
        };
        input.parse::<Option<syn::Token![,]>>()?;
        Ok((value, pat, guard))
    })
    .ok()
}

/// Where a standard formatting macro takes its format string, if `name` is one.
fn format_position(name: &Ident) -> Option<usize> {
    match name.to_string().as_str() {
        "format" | "format_args" | "print" | "println" | "eprint" | "eprintln" | "panic"
        | "unreachable" | "todo" | "unimplemented" => Some(0),
        "write" | "writeln" | "assert" | "debug_assert" => Some(1),
        "assert_eq" | "assert_ne" | "debug_assert_eq" | "debug_assert_ne" => Some(2),
        _ => None,
    }
}

/// The format string of a call of a standard formatting macro: its argument at the place the
/// macro takes one, when that argument is a string literal alone.
fn format_string(name: &Ident, tokens: &TokenStream) -> Option<proc_macro2::Literal> {
    let position = format_position(name)?;
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

/// The names a string literal's `{name}` and `{name:spec}` placeholders use (`{{` escapes),
/// and those a spec takes its width or precision from (`{:width$}`, `{:.prec$}`).
fn inline_arguments(literal: &str) -> Vec<String> {
    // A raw string (`r#"{s}"#`) has placeholders too, and no escapes.
    let (raw, body) = match literal.strip_prefix('r') {
        Some(raw) => (true, raw.trim_matches('#')),
        None => (false, literal),
    };
    if body.len() < 2 || !body.starts_with('"') || !body.ends_with('"') {
        return Vec::new();
    }
    let mut names = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && !raw {
            // An escape is no placeholder: `\u{e9}` is a character.
            if chars.next() == Some('u') {
                chars.by_ref().find(|c| *c == '}');
            }
            continue;
        }
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
        let is_name = |name: &str| name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if is_name(&name) && matches!(chars.peek(), Some('}' | ':')) {
            names.push(name);
        }
        if chars.next_if_eq(&':').is_some() {
            let spec: String = std::iter::from_fn(|| chars.next_if(|c| *c != '}')).collect();
            // `name$` is a count parameter: its name runs back from the `$`.
            for (end, _) in spec.match_indices('$') {
                let start = spec[..end]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(0, |i| i + 1);
                let parameter = &spec[start..end];
                if is_name(parameter) && !names.iter().any(|n| n == parameter) {
                    names.push(parameter.to_string());
                }
            }
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

    fn visit_expr_assign(&mut self, assign: &'ast syn::ExprAssign) {
        self.change(&assign.left);
        visit::visit_expr_assign(self, assign);
    }

    fn visit_expr_binary(&mut self, binary: &'ast syn::ExprBinary) {
        if assigns(&binary.op) {
            self.change(&binary.left);
        }
        visit::visit_expr_binary(self, binary);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if MUTATING_METHODS.contains(&call.method.to_string().as_str()) {
            self.change(&call.receiver);
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_reference(&mut self, reference: &'ast syn::ExprReference) {
        if reference.mutability.is_some() {
            self.change(&reference.expr);
        }
        visit::visit_expr_reference(self, reference);
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

    /// Arguments that parse as expressions (`vec![..]`, `assert!(..)`, `format!(..)`) are
    /// walked as expressions, so that their closures and blocks scope their own names and a
    /// named format argument's name (`v` in `format!("{v}", v = x)`) is not a use; any other
    /// arguments are scanned as tokens.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let name = mac.path.segments.last().map(|segment| &segment.ident);
        if let Some((value, pat, guard)) = name
            .filter(|name| *name == "matches")
            .and_then(|_| matches_arguments(mac))
        {
            self.visit_expr(&value);
            self.scoped(&[&pat], true, |this| {
                if let Some(guard) = &guard {
                    this.visit_expr(guard);
                }
            });
            return;
        }
        let Some(arguments) = expression_arguments(mac) else {
            self.scan_macro(name, &mac.tokens);
            return;
        };
        let named: Vec<String> = arguments
            .iter()
            .filter_map(|argument| argument.name.as_ref().map(ToString::to_string))
            .collect();
        if let Some(literal) = name.and_then(|name| format_string(name, &mac.tokens)) {
            for inline in inline_arguments(&literal.to_string()) {
                if !named.contains(&inline) {
                    self.use_ident(&Ident::new(&inline, literal.span()));
                }
            }
        }
        for argument in &arguments {
            self.visit_expr(&argument.value);
        }
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

    fn changed(closure: &str) -> Vec<String> {
        let closure: ExprClosure = syn::parse_str(closure).expect("a closure");
        changed_variables(&closure)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn assignments_and_mutable_borrows_of_free_variables_are_changes() {
        assert_eq!(
            changed("|p| { n += 1; s.total = 2.0; v[0] = 1.0; f(&mut m); p.len() }"),
            ["n", "s", "v", "m"]
        );
        // The closure's own variables, and mere reads, are not.
        assert_eq!(
            changed("|p| { let mut a = 0.0; a += x; let b = &y; for mut i in 0..n { i += 1; } a }"),
            Vec::<String>::new()
        );
        // A nested closure's parameter is its own; its free variables are the outer ones.
        assert_eq!(changed("|p| p.iter().for_each(|q| { t += *q; })"), ["t"]);
    }

    #[test]
    fn a_mutating_method_on_a_free_variable_is_a_change() {
        assert_eq!(
            changed("|p| { seen.push(p.len()); w.fill(0.0); s.rows.clear(); v[0].sort(); 1.0 }"),
            ["seen", "w", "s", "v"]
        );
        // On the closure's own variables, on a value computed from a capture, and methods
        // that only read, it is not.
        assert_eq!(
            changed("|p| { let mut a = seen.clone(); a.push(1); seen.iter().sum::<f64>() + m.apply(x).len() as f64 + seen.to_vec().pop().unwrap() }"),
            Vec::<String>::new()
        );
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
        assert_eq!(free("|p| vec![format!(\"{w}\")]"), ["w"]);
        // A width or precision may name a variable too, `{:width$}`.
        assert_eq!(
            free("|p| format!(\"{:>width$.prec$} {v:w$} {:1$}\", x, y)"),
            ["width", "prec", "v", "w", "x", "y"]
        );
    }

    #[test]
    fn raw_format_strings_have_placeholders_and_escapes_have_none() {
        assert_eq!(inline_arguments(r##"r#"{s} {t:w$}"#"##), ["s", "t", "w"]);
        assert_eq!(inline_arguments(r#"r"\u{a}""#), ["a"]);
        assert_eq!(inline_arguments(r#""caf\u{e9} \u{a}{b}""#), ["b"]);
        assert_eq!(inline_arguments(r#""\\{s}""#), ["s"]);
    }

    #[test]
    fn macro_arguments_that_are_expressions_scope_as_expressions() {
        // A nested closure's parameter inside a macro binds only its own body.
        assert_eq!(
            free("|p| vec![v.iter().map(|a| a * 2.0).sum::<f64>(), a]"),
            ["v", "a"]
        );
        assert_eq!(
            free("|p| assert!(v.iter().all(|x| *x > 0.0), \"{}\", y)"),
            ["v", "y"]
        );
        // A named format argument's name is not a variable; its value is a use.
        assert_eq!(free("|p| format!(\"{v} {w}\", v = x)"), ["w", "x"]);
        assert_eq!(free("|p| vec![0.0; n]"), ["n"]);
        // `a == b` is a comparison, not a named argument; outside a formatting macro,
        // `a = b` is an assignment.
        assert_eq!(free("|p| assert!(a == b)"), ["a", "b"]);
        assert_eq!(free("|p| m!(a = b)"), ["a", "b"]);
        // `matches!`'s pattern binds its names in its guard.
        assert_eq!(free("|p| matches!(o, Some(t) if t > m)"), ["o", "m"]);
        assert_eq!(free("|p| matches!(o, None) || t"), ["o", "t"]);
        // Other syntax is scanned as tokens.
        assert_eq!(free("|p| { m!(a => b); }"), ["a", "b"]);
    }
}
