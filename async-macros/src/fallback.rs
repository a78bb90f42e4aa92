//! What the attribute emits after an error: the errors, and the function as written, its
//! DSL sites replaced by a value of rustc's error type. The body's paths still resolve, so
//! the imports only it uses are not reported unused beside the real error; its locals are
//! that error-typed value inside the sites (a broadcast variable is `&T` in a reduce!
//! closure), and rustc drops what follows from it, so the errors are ours alone.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::ItemFn;

use crate::errors::Errors;
use crate::rewrite::renamed_dsl;

/// The local that holds the error-typed value.
const VALUE: &str = "__async_fallback";

/// The errors, and `function` with its body kept (`keep_body`: its signature names a driver
/// the body can use) or else an `unimplemented!()` body, so that its callers still type-check.
pub fn fallback(function: &ItemFn, errors: Errors, keep_body: bool) -> TokenStream {
    let (outer, inner) = crate::split_attributes(&function.attrs);
    let vis = &function.vis;
    let sig = &function.sig;
    if !keep_body {
        let errors = errors.into_compile_errors();
        return quote! {
            #errors
            #(#outer)*
            #[allow(unused_variables, unreachable_code)]
            #vis #sig {
                #(#inner)*
                ::core::unimplemented!()
            }
        };
    }
    let mut errors = errors.into_expressions();
    // Never without one: the fallback follows an error.
    let last = errors
        .pop()
        .unwrap_or_else(|| quote!(::core::unimplemented!()));
    let mut block = function.block.as_ref().clone();
    let renamed = drop_renamed_dsl(&mut block);
    crate::checkpoints::strip_transient(&mut block);
    let mut names = Names::default();
    for input in &sig.inputs {
        if let syn::FnArg::Typed(typed) = input {
            names.visit_pat(&typed.pat);
        }
    }
    names.visit_block(&block);
    let neutral = Neutral {
        dsl: ["broadcast", "barrier", "reduce"]
            .iter()
            .map(|n| n.to_string())
            .chain(renamed.iter().map(Ident::to_string))
            .collect(),
        locals: names.0,
    };
    let value = Ident::new(VALUE, Span::call_site());
    let stmts = &block.stmts;
    let body = neutral.tokens(quote!(#(#stmts)*));
    quote! {
        #(#outer)*
        #[allow(unused_variables, unused_mut, unused_assignments, unreachable_code, unused_labels, unused_macros)]
        #vis #sig {
            #(#inner)*
            #(#errors;)*
            let #value = #last;
            #body
        }
    }
}

/// Removes the `use`s that rename a DSL macro (an error of its own), whose calls the
/// fallback replaces, and the attributes of DSL statements; the aliases.
fn drop_renamed_dsl(block: &mut syn::Block) -> Vec<Ident> {
    struct Renames(Vec<Ident>);
    impl VisitMut for Renames {
        fn visit_block_mut(&mut self, block: &mut syn::Block) {
            for stmt in &mut block.stmts {
                // Its `#[cfg]` is an error of ours; rustc would check its condition too.
                if let syn::Stmt::Macro(stmt) = stmt {
                    if crate::rewrite::Dsl::of(&stmt.mac).is_some() {
                        stmt.attrs.clear();
                    }
                }
            }
            block.stmts.retain(|stmt| match stmt {
                syn::Stmt::Item(syn::Item::Use(item)) => {
                    let renames = renamed_dsl(item);
                    self.0.extend(renames.iter().map(|r| r.rename.clone()));
                    renames.is_empty()
                }
                _ => true,
            });
            syn::visit_mut::visit_block_mut(self, block);
        }
    }
    let mut dropped = Renames(Vec::new());
    dropped.visit_block_mut(block);
    dropped.0
}

/// The names the function's patterns bind, but capitalised ones (unit variants, constants).
#[derive(Default)]
struct Names(Vec<Ident>);

impl<'ast> Visit<'ast> for Names {
    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        let name = pat.ident.to_string();
        if !name.starts_with(char::is_uppercase) && name != "self" {
            self.0.push(pat.ident.clone());
        }
        syn::visit::visit_pat_ident(self, pat);
    }
}

/// The token rewrite of the body: DSL calls wherever they stand (in closures, in other macros'
/// arguments), and the receivers of pinned reads `w.at(..)`, become the error-typed value.
struct Neutral {
    dsl: Vec<String>,
    locals: Vec<Ident>,
}

impl Neutral {
    fn tokens(&self, tokens: TokenStream) -> TokenStream {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut out: Vec<TokenTree> = Vec::new();
        let mut i = 0;
        while i < trees.len() {
            if let Some(args) = self.dsl_call(&trees[i..]) {
                drop_dsl_path(&mut out);
                out.extend(self.stand_in(&trees[i].to_string(), args.stream()));
                i += 3;
                // `reduce!(..).await` is an error of its own: rustc would add one about `async`.
                if is_punct(trees.get(i), '.')
                    && matches!(trees.get(i + 1), Some(TokenTree::Ident(a)) if a == "await")
                {
                    i += 2;
                }
                continue;
            }
            if pinned_read(&trees[i..]) && !is_punct(out.last(), '.') {
                out.push(TokenTree::Ident(Ident::new(VALUE, trees[i].span())));
                i += 1;
                continue;
            }
            out.push(match &trees[i] {
                TokenTree::Group(group) => {
                    let mut inner = Group::new(group.delimiter(), self.tokens(group.stream()));
                    inner.set_span(group.span());
                    TokenTree::Group(inner)
                }
                tree => tree.clone(),
            });
            i += 1;
        }
        out.into_iter().collect()
    }

    /// The arguments of a DSL call `name!(..)` at the start of `trees`.
    fn dsl_call<'t>(&self, trees: &'t [TokenTree]) -> Option<&'t Group> {
        match trees {
            [TokenTree::Ident(name), TokenTree::Punct(bang), TokenTree::Group(args), ..]
                if bang.as_char() == '!' && self.dsl.iter().any(|d| name == d) =>
            {
                Some(args)
            }
            _ => None,
        }
    }

    /// `__async_fallback({ let w = __async_fallback; ..; (args,) })`: the arguments' paths
    /// resolve, and every local in them is of the error type, as is what each closure among
    /// them returns (a `?` in one is an error of ours).
    fn stand_in(&self, name: &str, args: TokenStream) -> TokenStream {
        let value = Ident::new(VALUE, Span::call_site());
        let parser = Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
        // broadcast!'s argument names a variable, which may not exist.
        let args = match parser.parse2(self.tokens(args)) {
            Ok(args) if name != "broadcast" => args,
            _ => return quote!(#value(())),
        };
        let mut args: Vec<syn::Expr> = args.into_iter().filter_map(without_option).collect();
        for arg in &mut args {
            ErrorReturns.visit_expr_mut(arg);
        }
        let locals = &self.locals;
        quote!(#value({ #(let #locals = #value;)* (#(#args,)*) }))
    }
}

/// An argument, or the value of an option (`select = ..`), but a bare name (`collect = all`).
fn without_option(arg: syn::Expr) -> Option<syn::Expr> {
    match arg {
        syn::Expr::Assign(assign) if matches!(&*assign.left, syn::Expr::Path(_)) => {
            match *assign.right {
                syn::Expr::Path(path) if path.path.get_ident().is_some() => None,
                value => Some(value),
            }
        }
        arg => Some(arg),
    }
}

/// Makes each closure return the error-typed value first, so that what it returns is of the
/// error type.
struct ErrorReturns;

impl VisitMut for ErrorReturns {
    fn visit_expr_closure_mut(&mut self, closure: &mut syn::ExprClosure) {
        syn::visit_mut::visit_expr_closure_mut(self, closure);
        let value = Ident::new(VALUE, Span::call_site());
        let body = &closure.body;
        *closure.body = syn::parse_quote!({ if true { return #value; } #body });
    }
}

/// `w.at(` at the start of `trees`.
fn pinned_read(trees: &[TokenTree]) -> bool {
    matches!(
        trees,
        [TokenTree::Ident(_), TokenTree::Punct(dot), TokenTree::Ident(at), TokenTree::Group(g), ..]
            if dot.as_char() == '.' && at == "at" && g.delimiter() == Delimiter::Parenthesis
    )
}

fn is_punct(tree: Option<&TokenTree>, ch: char) -> bool {
    matches!(tree, Some(TokenTree::Punct(p)) if p.as_char() == ch)
}

/// Removes the `asyncopt_runtime::` before a DSL call's name, already copied to `out`.
fn drop_dsl_path(out: &mut Vec<TokenTree>) {
    loop {
        let n = out.len();
        let crate_name = matches!(
            out.get(n.wrapping_sub(3)),
            Some(TokenTree::Ident(c)) if c == "asyncopt_runtime" || c == "asyncopt_macros"
        );
        if n >= 3 && crate_name && is_punct(out.get(n - 1), ':') && is_punct(out.get(n - 2), ':') {
            out.truncate(n - 3);
        } else if n >= 2 && is_punct(out.get(n - 1), ':') && is_punct(out.get(n - 2), ':') {
            out.truncate(n - 2);
        } else {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `syn::Error` combined from two messages, and one more error beside it.
    fn three_messages(function: &ItemFn) -> Errors {
        let mut combined = syn::Error::new_spanned(&function.sig.ident, "first message");
        combined.combine(syn::Error::new_spanned(&function.block, "second message"));
        let mut errors = Errors::default();
        errors.push(combined);
        errors.at(&function.sig.inputs, "third message");
        errors
    }

    #[test]
    fn every_message_of_a_combined_error_once_in_a_function_that_parses() {
        let function: ItemFn = syn::parse_quote! {
            fn sgd(cx: &mut Driver, data: &Dataset) -> Model {
                let mut w: Model = Model::zeros(data.dim());
                w
            }
        };
        for keep_body in [true, false] {
            let out = fallback(&function, three_messages(&function), keep_body);
            // Tokens that do not parse would be rustc errors beside ours.
            let file: syn::File = syn::parse2(out.clone())
                .unwrap_or_else(|e| panic!("keep_body {keep_body}: {e}: {out}"));
            assert!(file.items.iter().any(|i| matches!(i, syn::Item::Fn(_))));
            let text = out.to_string();
            for message in ["first message", "second message", "third message"] {
                assert_eq!(text.matches(message).count(), 1, "{message} in {text}");
            }
            assert_eq!(text.matches("compile_error").count(), 3, "{text}");
        }
    }
}
