//! The `#[async_optimizer]` attribute and the DSL it reads: `broadcast!`, `barrier!` and
//! `reduce!`. An optimizer is written as its synchronous training loop; the attribute turns
//! the DSL sites into calls of `async_runtime`, and each `reduce!` closure into a task that
//! worker processes run by a stable id.
//!
//! ```ignore
//! #[async_optimizer]
//! fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
//!     let mut w: Model = Model::zeros(data.dim());
//!     for k in 0..p.updates {
//!         broadcast!(w);
//!         let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
//!         w.scaled_add(-p.step, &g);
//!     }
//!     w
//! }
//! ```
//!
//! The phases: [`sites`] parses each macro's arguments, [`scope`] and [`captures`] find what a
//! closure takes from its surroundings, [`rewrite`] checks each site where it stands, and
//! [`expand`] writes the code.

mod captures;
mod errors;
mod expand;
mod rewrite;
mod scope;
mod sites;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::visit_mut::VisitMut;
use syn::{FnArg, ItemFn};

use errors::Errors;
use rewrite::Rewriter;
use scope::Scopes;

/// Turns a training loop written with `broadcast!`, `barrier!` and `reduce!` into a
/// distributed one.
///
/// The function takes the driver first (`cx: &mut Driver`), then anything else (the dataset,
/// parameters). Inside its training loop:
/// - `broadcast!(w)` publishes a new version of `w`; workers are sent only versions they lack.
///   When a stop rule fires, it leaves the loop.
/// - `reduce!(data, |part| ...)` runs the closure on every partition of `data` in the worker
///   processes and combines the results ([`Combine`](../async_runtime/trait.Combine.html)).
///   The closure's captured variables travel to the workers, so their types must be known
///   from their declarations (`let x: f64 = ...`, parameters, a range `for` counter is
///   `usize`); broadcast variables are read from the worker's version cache instead.
/// - `barrier!(rule)` before a `reduce!` makes that reduce asynchronous: the rule (a closure
///   over the worker table, or a preset such as `asp()`) decides when idle workers get the
///   next task, and the reduce returns one result at a time, as they arrive;
///   `max_staleness = n` drops results more than `n` updates old.
#[proc_macro_attribute]
pub fn async_optimizer(attr: TokenStream, item: TokenStream) -> TokenStream {
    optimizer(attr.into(), item.into()).into()
}

fn optimizer(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let mut errors = Errors::default();
    if !attr.is_empty() {
        errors.at(&attr, "#[async_optimizer] takes no arguments");
    }
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            errors.at(
                &item,
                "#[async_optimizer] goes on a function: `fn name(cx: &mut Driver, ...) -> Model { ... }`",
            );
            let errors = errors.into_compile_errors();
            return quote!(#errors #item);
        }
    };
    let signature = &function.sig;
    if let Some(asyncness) = &signature.asyncness {
        errors.at(
            asyncness,
            "#[async_optimizer] functions are plain functions: the runtime handles the asynchrony; remove `async`",
        );
    }
    if !signature.generics.params.is_empty() {
        errors.at(
            &signature.generics,
            "#[async_optimizer] functions cannot be generic: their tasks are registered once, by name, for every worker",
        );
    }
    let mut inputs = Vec::new();
    for input in &signature.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.at(
                receiver,
                "#[async_optimizer] goes on a free function, not a method: take the driver as the first argument",
            ),
            FnArg::Typed(typed) => inputs.push((typed.pat.as_ref().clone(), typed.ty.as_ref().clone())),
        }
    }
    let driver = match inputs.first() {
        Some((syn::Pat::Ident(name), syn::Type::Reference(reference)))
            if reference.mutability.is_some() =>
        {
            Some(name.ident.clone())
        }
        _ => {
            errors.at(
                &signature.inputs,
                "the first argument of an #[async_optimizer] function is the driver: `cx: &mut Driver`",
            );
            None
        }
    };
    let Some(driver) = driver.filter(|_| errors.is_empty()) else {
        return fallback(&function, errors);
    };
    let mut scopes = Scopes::default();
    rewrite::bind_parameters(&mut scopes, &driver, &inputs);
    let model = returned_variable(&function.block);
    let mut rewriter = Rewriter::new(signature.ident.clone(), driver, model, scopes, &mut errors);
    rewriter.visit_block_mut(&mut function.block);
    let tasks = std::mem::take(&mut rewriter.tasks);
    if !errors.is_empty() {
        return fallback(&function, errors);
    }
    let attrs = &function.attrs;
    let vis = &function.vis;
    let sig = &function.sig;
    let stmts = &function.block.stmts;
    quote! {
        #(#attrs)*
        #vis #sig {
            #(#tasks)*
            #(#stmts)*
        }
    }
}

/// The variable a function body ends with (`... w }`), if it ends with one.
fn returned_variable(block: &syn::Block) -> Option<syn::Ident> {
    match block.stmts.last()? {
        syn::Stmt::Expr(syn::Expr::Path(path), None) => path.path.get_ident().cloned(),
        _ => None,
    }
}

/// On errors: the errors, and the function with an empty body, so that its callers still
/// type-check and the user sees our messages rather than a cascade.
fn fallback(function: &ItemFn, errors: Errors) -> TokenStream2 {
    let attrs = &function.attrs;
    let vis = &function.vis;
    let sig = &function.sig;
    let errors = errors.into_compile_errors();
    quote! {
        #errors
        #(#attrs)*
        #[allow(unused_variables, unreachable_code)]
        #vis #sig {
            ::core::unimplemented!()
        }
    }
}

fn outside(name: &str, input: TokenStream) -> TokenStream {
    let message = format!(
        "{name}! can only be used inside a function marked #[async_optimizer], which rewrites it into runtime calls"
    );
    // The macro's own name and arguments are what must move, so the error spans the call.
    let _ = input;
    syn::Error::new(proc_macro2::Span::call_site(), message)
        .to_compile_error()
        .into()
}

/// Publishes a new version of a variable to the workers. Only inside `#[async_optimizer]`.
#[proc_macro]
pub fn broadcast(input: TokenStream) -> TokenStream {
    outside("broadcast", input)
}

/// Decides at run time which workers get the next task. Only inside `#[async_optimizer]`.
#[proc_macro]
pub fn barrier(input: TokenStream) -> TokenStream {
    outside("barrier", input)
}

/// Runs a closure on the dataset's partitions in the workers. Only inside `#[async_optimizer]`.
#[proc_macro]
pub fn reduce(input: TokenStream) -> TokenStream {
    outside("reduce", input)
}
