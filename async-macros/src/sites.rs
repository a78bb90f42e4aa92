//! What the three DSL macros say: their arguments, parsed and checked on their own.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, ExprClosure, Ident, Token};

/// `broadcast!(x)`.
pub struct BroadcastSite {
    pub var: Ident,
}

impl Parse for BroadcastSite {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input
                .error("broadcast! takes the name of the variable to publish: `broadcast!(w)`"));
        }
        let expr: Expr = input.parse()?;
        let var = match &expr {
            Expr::Path(path) if path.qself.is_none() => path.path.get_ident().cloned(),
            _ => None,
        };
        let var = var.ok_or_else(|| {
            syn::Error::new_spanned(
                &expr,
                "broadcast! takes the name of a variable: bind the value first \
                 (`let w: Model = ...;`) and write `broadcast!(w)`",
            )
        })?;
        if !input.is_empty() {
            return Err(input.error("broadcast! takes one variable: `broadcast!(w)`"));
        }
        Ok(BroadcastSite { var })
    }
}

/// `barrier!(rule)` or `barrier!(rule, select = |w| ...)`.
pub struct BarrierSite {
    pub rule: Expr,
    /// The predicate over one worker's row (and, with two parameters, the whole table) that
    /// picks who gets the task.
    pub select: Option<Expr>,
}

impl Parse for BarrierSite {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error(
                "barrier! needs a rule: a closure over the worker table such as \
                 `barrier!(|workers| workers.idle() >= 2)`, or a preset like `barrier!(asp())`",
            ));
        }
        let rule: Expr = input.parse()?;
        if let Some(option) = option_as_rule(&rule) {
            return Err(syn::Error::new_spanned(
                &rule,
                format!(
                    "barrier! takes its rule first, then its options: `{option} = ...` is no rule; \
                     write e.g. `barrier!(asp(), select = |w| ...)`"
                ),
            ));
        }
        let mut select = None;
        while input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let name: Ident = input.parse().map_err(|_| {
                input.error(
                    "barrier! takes one rule, then optionally `select = |w| ...`: \
                     combine conditions into one rule with `&&`",
                )
            })?;
            if name != "select" {
                return Err(syn::Error::new_spanned(
                    &name,
                    format!(
                        "unknown barrier! option `{name}`: the only option is `select = |w| ...`, \
                         a predicate over one worker's row that picks who gets the task"
                    ),
                ));
            }
            input.parse::<Token![=]>()?;
            let predicate: Expr = input.parse()?;
            if let Expr::Closure(closure) = &predicate {
                if !(1..=2).contains(&closure.inputs.len()) {
                    let message = format!(
                        "a selection takes one worker's row, `select = |w| ...`, or the row \
                         and the whole table, `select = |w, table| ...`, not {} parameters",
                        closure.inputs.len()
                    );
                    return Err(if closure.inputs.is_empty() {
                        syn::Error::new_spanned(&predicate, message)
                    } else {
                        syn::Error::new_spanned(&closure.inputs, message)
                    });
                }
            }
            if select.is_some() {
                return Err(syn::Error::new_spanned(
                    name,
                    "select is given twice: combine both predicates with `&&`",
                ));
            }
            select = Some(predicate);
        }
        Ok(BarrierSite { rule, select })
    }
}

/// The option an assignment in the rule's place names (`select` in `barrier!(select = ..)`):
/// rustc would report an unknown variable of that name.
fn option_as_rule(rule: &Expr) -> Option<&Ident> {
    match rule {
        Expr::Assign(assign) => match &*assign.left {
            Expr::Path(path) if path.qself.is_none() => path.path.get_ident(),
            _ => None,
        },
        _ => None,
    }
}

/// `reduce!(data, |part| ..., max_staleness = n)`.
pub struct ReduceSite {
    pub data: Expr,
    pub closure: ExprClosure,
    pub max_staleness: Option<Expr>,
    /// The whole `max_staleness = n` option, for errors about the option rather than its value.
    pub max_staleness_option: TokenStream,
    /// `collect = all`: a drain of every result in hand.
    pub collect: Option<TokenStream>,
}

impl Parse for ReduceSite {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(
                input.error("reduce! needs the dataset and a closure: `reduce!(data, |part| ...)`")
            );
        }
        let data: Expr = input.parse()?;
        if input.is_empty() {
            return Err(syn::Error::new_spanned(
                &data,
                "reduce! needs a closure after the dataset: `reduce!(data, |part| ...)`",
            ));
        }
        input.parse::<Token![,]>()?;
        if input.is_empty() {
            return Err(syn::Error::new_spanned(
                &data,
                "reduce! needs a closure after the dataset: `reduce!(data, |part| ...)`",
            ));
        }
        let closure_expr: Expr = input.parse()?;
        let closure = match closure_expr {
            Expr::Closure(closure) => closure,
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "reduce! runs a closure on each partition: write it inline, `|part| ...`",
                ))
            }
        };
        let mut max_staleness = None;
        let mut max_staleness_option = TokenStream::new();
        let mut collect = None;
        while input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let name: Ident = input.parse()?;
            if name == "collect" {
                let eq = input.parse::<Token![=]>()?;
                let mode: Ident = input.parse()?;
                if mode != "all" {
                    return Err(syn::Error::new_spanned(
                        &mode,
                        format!(
                            "unknown collect mode `{mode}`: write `collect = all`, which returns \
                             every result in hand (at least one) with its metadata"
                        ),
                    ));
                }
                if collect.is_some() {
                    return Err(syn::Error::new_spanned(
                        name,
                        "collect is given twice: keep one",
                    ));
                }
                collect = Some(quote::quote!(#name #eq #mode));
                continue;
            }
            if name != "max_staleness" {
                return Err(syn::Error::new_spanned(
                    &name,
                    format!(
                        "unknown reduce! option `{name}`: the options are `max_staleness = N` \
                         and `collect = all`"
                    ),
                ));
            }
            let eq = input.parse::<Token![=]>()?;
            let bound: Expr = input.parse()?;
            if let Expr::Lit(lit) = &bound {
                if !matches!(lit.lit, syn::Lit::Int(_)) {
                    return Err(syn::Error::new_spanned(
                        &bound,
                        "max_staleness is a number of updates, an unsigned integer: write e.g. `4` or `p.max_staleness`",
                    ));
                }
            }
            if max_staleness.is_some() {
                return Err(syn::Error::new_spanned(
                    name,
                    "max_staleness is given twice: keep one",
                ));
            }
            max_staleness_option = quote::quote!(#name #eq #bound);
            max_staleness = Some(bound);
        }
        Ok(ReduceSite {
            data,
            closure,
            max_staleness,
            max_staleness_option,
            collect,
        })
    }
}
