//! The `#[async_optimizer]` attribute and the DSL it reads: `broadcast!`, `barrier!` and
//! `reduce!`. An optimizer is written as its synchronous training loop; the attribute turns
//! the DSL sites into calls of `asyncopt_runtime`, and each `reduce!` closure into a task that
//! worker processes run by a stable id.
//!
//! ```no_run
//! # use asyncopt_algorithms::{Model, Params};
//! # use asyncopt_runtime::{async_optimizer, Dataset, Driver};
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
//! # fn main() {}
//! ```
//!
//! The phases: `sites` parses each macro's arguments, `scope` and `captures` find what a
//! closure takes from its surroundings, `rewrite` checks each site where it stands, and
//! `expand` writes the code.
#![deny(missing_docs)]

mod captures;
mod checkpoints;
mod errors;
mod expand;
mod fallback;
mod rewrite;
mod scope;
mod sites;
mod source_hash;
mod unchanged;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::visit_mut::VisitMut;
use syn::{FnArg, Ident, ItemFn, Pat, Signature, Type};

use errors::Errors;
use fallback::fallback;
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
///   processes and combines the results ([`Combine`](../asyncopt_runtime/trait.Combine.html)).
///   The closure's captured variables travel to the workers, so their types must be known
///   from their declarations (`let x: f64 = ...`, parameters, a range `for` counter or an `enumerate()` counter is
///   `usize`); broadcast variables are read from the worker's version cache instead, as `&T`
///   and as of their last `broadcast!`.
/// - `barrier!(rule)` before a `reduce!` makes that reduce asynchronous: the rule (a closure
///   over the worker table, or a preset such as `asp()`) decides when idle workers get the
///   next task, and the reduce returns one result at a time, as they arrive;
///   `max_staleness = n` drops results more than `n` updates old.
/// - `reduce!(data.sample(batch, k), |batch| ...)` runs the closure on each partition's
///   minibatch for update `k`; a `History` table the closure uses travels as the entries of
///   those rows only.
///
/// The training loop's variables are every `mut` binding a `let` declares before it in the
/// function's body, alone or in a tuple or struct pattern. When the driver writes checkpoints
/// (`Driver::checkpoint_to`), they are saved at the top of a pass, with the loop's position,
/// and where a `for` loop runs out or a `while` loop's condition fails; a run resumed from one
/// (`Driver::resume`) restores them and a `for` loop skips the passes already done.
/// Their types need serde's `Serialize` and `Deserialize` only when checkpoints are asked for;
/// the run names any that lacks them before its first update. A `let` marked `#[transient]`
/// (a timer, a file handle) is left out: a resumed run starts it anew from its declaration.
///
/// The function must not be generic, `async`, `const` or a method, and the attribute takes no
/// arguments. Misuse is a compile error at the offending tokens that says what to write
/// instead; the function is then emitted as written, its DSL calls made inert, so its
/// callers still type-check and the imports its body uses are not reported unused.
///
/// ```no_run
/// # use asyncopt_algorithms::{Model, Params};
/// # use asyncopt_runtime::{async_optimizer, Dataset, Driver};
/// #[async_optimizer]
/// fn asgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
///     let mut w: Model = Model::zeros(data.dim());
///     for k in 0..p.updates {
///         broadcast!(w);
///         barrier!(|workers| workers.idle() >= p.quorum);
///         let g = reduce!(
///             data,
///             |part| p.loss.gradient(&part.sample(p.batch, k), w.view()),
///             max_staleness = p.max_staleness
///         );
///         w.scaled_add(-p.step, &g);
///     }
///     w
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn async_optimizer(attr: TokenStream, item: TokenStream) -> TokenStream {
    optimizer(attr.into(), item.into()).into()
}

fn optimizer(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let mut errors = Errors::default();
    if !attr.is_empty() {
        errors.at(
            &attr,
            "#[async_optimizer] takes no arguments: write `#[async_optimizer]` and pass settings \
             as parameters of the function (`p: &Params`)",
        );
    }
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            // The attribute is what is misplaced: the error points at it.
            errors.push(syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[async_optimizer] goes on a function: move it onto \
                 `fn name(cx: &mut Driver, data: &Dataset, ...) -> Model { ... }`",
            ));
            let errors = errors.into_compile_errors();
            return quote!(#errors #item);
        }
    };
    // As written, before the rewrite: what the author changed is what changes the hash.
    let source_hash = source_hash::source_hash(&function);
    // As written: after an error, the body the author wrote goes back to rustc.
    let original = function.clone();
    let signature = &function.sig;
    let (driver, inputs) = check_signature(signature, &mut errors);
    // With no driver (or as a method) the body cannot be kept: its `cx` names nothing.
    let keep_body = driver.is_some() && signature.receiver().is_none();
    let Some(driver) = driver.filter(|_| errors.is_empty()) else {
        return fallback(&original, errors, keep_body);
    };
    rewrite::refuse_driver_shadows(&function.block, &driver, &mut errors);
    let mut scopes = Scopes::default();
    rewrite::bind_parameters(&mut scopes, &driver, &inputs);
    // The model observers watch: the returned variable if it is broadcast, else (a copy
    // kept aside, say the best so far) the first variable broadcast, so that the trace and
    // the stop rules still follow the training.
    let broadcast = broadcast_variables(&function.block);
    let model = returned_variable(&function.block)
        .filter(|var| broadcast.iter().any(|b| scope::same(b, var)));
    let mut rewriter = Rewriter::new(
        signature.ident.clone(),
        driver.clone(),
        model,
        broadcast,
        scopes,
        source_hash,
        &mut errors,
    );
    rewriter.visit_block_mut(&mut function.block);
    let tasks = std::mem::take(&mut rewriter.tasks);
    let counter_captured = rewriter.counter_captured;
    let training_loop = rewriter.training_loop.take();
    let model = rewriter.model().map(expand::variable_name);
    if !errors.is_empty() {
        return fallback(&original, errors, true);
    }
    let mut unused_mut = None;
    if let Some(label) = &training_loop {
        check_loop_variables_initialized(&function.block, label, &mut errors);
        if !errors.is_empty() {
            return fallback(&original, errors, true);
        }
        let (optimizer, model) = (&signature.ident, model.as_deref());
        let restored =
            checkpoints::instrument(&mut function.block, label, optimizer, &driver, model);
        unused_mut = unchanged::unused_mut_witness(&original.block, &restored);
    }
    // Elsewhere (no loop to instrument, a `let` in a block) it has no effect, and rustc does
    // not know it.
    checkpoints::strip_transient(&mut function.block);
    let (outer, inner) = split_attributes(&function.attrs);
    let vis = &function.vis;
    let sig = &function.sig;
    let stmts = &function.block.stmts;
    let helpers = (!tasks.is_empty()).then(|| expand::helpers(counter_captured));
    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            #helpers
            #unused_mut
            #(#tasks)*
            #(#stmts)*
        }
    }
}

/// Refuses what an `#[async_optimizer]` signature cannot be (async, const, generic, a method) and
/// finds the driver, its first parameter. The driver (`None` after an error) and the typed
/// parameters.
fn check_signature(
    signature: &Signature,
    errors: &mut Errors,
) -> (Option<Ident>, Vec<(Pat, Type)>) {
    if let Some(asyncness) = &signature.asyncness {
        errors.at(
            asyncness,
            "#[async_optimizer] functions are plain functions (the runtime handles the asynchrony): remove `async`",
        );
    }
    if let Some(constness) = &signature.constness {
        errors.at(
            constness,
            "#[async_optimizer] functions run at run time, talking to the workers: remove `const`",
        );
    }
    let lifetimes_only = signature
        .generics
        .params
        .iter()
        .all(|param| matches!(param, syn::GenericParam::Lifetime(_)));
    if !signature.generics.params.is_empty() && lifetimes_only {
        errors.at(
            &signature.generics.params,
            "#[async_optimizer] functions take no lifetime parameters, because each reduce! becomes a task \
             of its own that cannot name them: remove them and write the references plainly \
             (`data: &Dataset, p: &Params`)",
        );
    } else if !signature.generics.params.is_empty() {
        errors.at(
            &signature.generics.params,
            "#[async_optimizer] functions cannot be generic, because each reduce! becomes one task \
             registered by name for every worker: use concrete types (e.g. `loss: &Loss` rather than `L: Objective`)",
        );
    }
    let mut inputs = Vec::new();
    for input in &signature.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.at(
                receiver,
                "#[async_optimizer] goes on a free function, not a method: remove `self` and take the driver \
                 as the first parameter, `cx: &mut Driver`",
            ),
            FnArg::Typed(typed) => inputs.push((typed.pat.as_ref().clone(), typed.ty.as_ref().clone())),
        }
    }
    let driver = match signature.inputs.first() {
        Some(FnArg::Typed(typed)) => match (typed.pat.as_ref(), typed.ty.as_ref()) {
            (syn::Pat::Ident(name), syn::Type::Reference(reference))
                if reference.mutability.is_some() && names_driver(&reference.elem) =>
            {
                Some(name.ident.clone())
            }
            _ => {
                errors.at(
                    typed,
                    "the first parameter of an #[async_optimizer] function is the driver: \
                     write `cx: &mut Driver` first, e.g. `fn sgd(cx: &mut Driver, data: &Dataset, p: &Params)`",
                );
                None
            }
        },
        Some(FnArg::Receiver(_)) => None,
        None => {
            errors.push(syn::Error::new(
                signature.paren_token.span.join(),
                "an #[async_optimizer] function takes the driver first: write `(cx: &mut Driver, data: &Dataset, ...)`",
            ));
            None
        }
    };
    (driver, inputs)
}

/// A checkpoint saves the training loop's variables at the top of each pass, so each needs a
/// value where it is declared.
fn check_loop_variables_initialized(
    block: &syn::Block,
    label: &syn::Lifetime,
    errors: &mut Errors,
) {
    for (var, ty) in checkpoints::uninitialized(block, label) {
        let ty = ty.map_or_else(|| "TYPE".to_string(), |ty| quote!(#ty).to_string());
        errors.at(
                &var,
                format!(
                    "`{var}` is a variable of the training loop, which a checkpoint saves at the top of \
                     each pass, so it needs a value where it is declared: `let mut {var}: {ty} = ...;`, \
                     or declare it inside the loop, or mark the `let` `#[transient]` if a resumed run may \
                     start without it"
                ),
            );
    }
}

/// Whether `ty` is `Driver` (by any path ending in it).
fn names_driver(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Driver"),
        _ => false,
    }
}

/// The variable a function body ends with (`... w }`), if it ends with one.
fn returned_variable(block: &syn::Block) -> Option<syn::Ident> {
    match block.stmts.last()? {
        syn::Stmt::Expr(syn::Expr::Path(path), None) => path.path.get_ident().cloned(),
        _ => None,
    }
}

/// The variables the body's `broadcast!`s name.
fn broadcast_variables(block: &syn::Block) -> Vec<syn::Ident> {
    struct Broadcasts(Vec<syn::Ident>);
    impl<'ast> syn::visit::Visit<'ast> for Broadcasts {
        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            let is_broadcast = rewrite::Dsl::of(mac) == Some(rewrite::Dsl::Broadcast);
            // The same reading as the rewrite's: an argument it refuses is reported there.
            if let (true, Ok(site)) = (is_broadcast, mac.parse_body::<sites::BroadcastSite>()) {
                self.0.push(site.var);
            }
        }
    }
    let mut broadcasts = Broadcasts(Vec::new());
    syn::visit::Visit::visit_block(&mut broadcasts, block);
    broadcasts.0
}

/// The function's outer attributes (`#[inline]`), and the inner ones of its body
/// (`#![allow(..)]`), which syn keeps beside them and which go back inside the body.
pub(crate) fn split_attributes(
    attrs: &[syn::Attribute],
) -> (Vec<&syn::Attribute>, Vec<&syn::Attribute>) {
    attrs
        .iter()
        .partition(|attr| matches!(attr.style, syn::AttrStyle::Outer))
}

/// What the DSL macros expand to when no `#[async_optimizer]` read them first.
fn outside(name: &str) -> TokenStream {
    // The whole call is misplaced, so the error spans it.
    syn::Error::new(
        proc_macro2::Span::call_site(),
        format!(
            "{name}! only works inside a function marked #[async_optimizer], which rewrites it into \
             runtime calls: add `#[async_optimizer]` to the function around this loop \
             (inside one, call it `{name}!`: the attribute does not read a name given by `use ... as`)"
        ),
    )
    .to_compile_error()
    .into()
}

/// Publishes a new version of a variable to the workers: `broadcast!(w);`.
///
/// Only inside the training loop of an `#[async_optimizer]` function, which reads it (the
/// macro needs no import there). The argument is a variable of any type with serde's
/// `Serialize` and `Deserialize` (`Array1<f64>`, `Array2<f64>`, `ArrayD<f64>`, a struct, a
/// tuple); dense `f64` arrays travel as raw bytes. Workers cache recent versions and are sent
/// only what they lack; a `reduce!` closure that uses the variable reads the version current
/// when its task was dispatched. When a stop rule fires, `broadcast!` leaves the training loop.
/// Versions are numbered from 1, one more for each `broadcast!` of a changed value; a value
/// equal to the latest keeps its number, so versions count changes, not updates: take them
/// from `cx.version("w")` or a result's `version_of("w")`, never from the loop's counter or
/// a staleness.
///
/// ```no_run
/// # use asyncopt_algorithms::{Model, Params};
/// # use asyncopt_runtime::{async_optimizer, Dataset, Driver};
/// # #[async_optimizer]
/// # fn example(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
/// # let mut w: Model = Model::zeros(data.dim());
/// for k in 0..p.updates {
///     broadcast!(w);
///     let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
///     w.scaled_add(-p.step, &g);
/// }
/// # w
/// # }
/// # fn main() {}
/// ```
///
/// Anywhere else it is a compile error.
#[proc_macro]
pub fn broadcast(input: TokenStream) -> TokenStream {
    let _ = input;
    outside("broadcast")
}

/// Makes the next `reduce!` asynchronous and decides at run time which workers get its task:
/// `barrier!(rule);`.
///
/// Only inside the training loop of an `#[async_optimizer]` function, in the same block as the
/// `reduce!` it governs and before it. The rule is a closure over the worker table
/// (`|workers| workers.idle() >= 2`) or a preset: `asyncopt_runtime::asp()` (any idle worker),
/// `bsp()` (rounds: once no worker holds a task), `ssp(bound)`, `quorum(k)`. The `reduce!` after it then returns one
/// result at a time, as workers deliver them, and accepts `max_staleness = n`.
///
/// `barrier!(rule, select = |worker| ...)` also selects which idle workers get the task: the
/// predicate is applied to each worker's row of the table (`WorkerInfo`), as ASYNC's
/// `ASYNCbarrier(f, STAT)` applies `f` to each worker's state; `select = |worker, table| ...`
/// also reads the whole table (`WorkerTable`), for a choice relative to the other workers.
/// The rule is checked again after
/// every event while the reduce waits. With nothing in flight and no result in hand, a rule
/// that says no is overridden (counted in `RunStats::barrier_overrides`, logged); a selection
/// that picks no idle worker then ends the run with `RuntimeError::BarrierDeadlock`.
///
/// ```no_run
/// # use asyncopt_algorithms::{Model, Params};
/// # use asyncopt_runtime::{async_optimizer, asp, Dataset, Driver};
/// # #[async_optimizer]
/// # fn example(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
/// # let mut w: Model = Model::zeros(data.dim());
/// # for k in 0..p.updates {
/// broadcast!(w);
/// barrier!(asp(), select = |worker| worker.last_staleness < 4);
/// let g = reduce!(data, |part| p.loss.gradient(part, w.view()));
/// # w.scaled_add(-p.step, &g);
/// # }
/// # w
/// # }
/// # fn main() {}
/// ```
///
/// ```no_run
/// # use asyncopt_algorithms::{Model, Params};
/// # use asyncopt_runtime::{async_optimizer, Dataset, Driver};
/// # #[async_optimizer]
/// # fn example(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
/// # let mut w: Model = Model::zeros(data.dim());
/// # for k in 0..p.updates {
/// broadcast!(w);
/// barrier!(|workers| workers.idle() >= p.quorum);
/// let g = reduce!(data, |part| p.loss.gradient(part, w.view()), max_staleness = p.max_staleness);
/// # w.scaled_add(-p.step, &g);
/// # }
/// # w
/// # }
/// # fn main() {}
/// ```
///
/// Anywhere else it is a compile error.
#[proc_macro]
pub fn barrier(input: TokenStream) -> TokenStream {
    let _ = input;
    outside("barrier")
}

/// Runs a closure on the dataset's partitions in the worker processes:
/// `reduce!(data, |part| ...)` or `reduce!(data.sample(batch, k), |batch| ...)`.
///
/// Inside the training loop of an `#[async_optimizer]` function; a synchronous `reduce!` may
/// also stand outside it, before (an initial full gradient) or after it (a final
/// evaluation): there every variable it uses travels with its current value, and it yields
/// its result type's `Default`, without running, if the run failed or a stop was asked for
/// from outside (a `StopHandle`, Ctrl-C); after a stop rule ended the training loop (a time
/// limit, a target) it runs, on the model the rule stopped at. The closure takes one argument,
/// the partition (or its minibatch for update `k`), and may use:
/// - variables published with `broadcast!`, read from the worker's version cache as `&T`, as
///   of their last `broadcast!` (a `let` that shadows one is a variable of its own);
/// - other variables of the function, sent with each task: their types must be known from
///   their declarations (`let s: f64 = ...`, parameters, the counter of a range `for` or of `enumerate()`, the items of `v.iter()` for a `v: Vec<T>`) and
///   implement `serde::Serialize` and `serde::Deserialize`; a `&T` parameter travels as `T`;
/// - `History` tables, of which each task carries only its rows' entries.
///
/// It cannot use the driver, the dataset itself (use the partition), another dataset (it would
/// travel whole with every task: give it a `reduce!` of its own) or `&mut` references. Its
/// workers' copy is compiled at the top of the function's body: the `use`s of the blocks
/// around it go along, but an item it names (`fn`, `const`, `struct`) must be declared at the
/// top of the body or outside the function, not in the loop or a block around it. The
/// captured values of one site that encode to more than 1 MiB are warned of once, at run time.
/// `?` cannot leave the closure (a compile error): handle an error inside it, or `.expect(..)`
/// to fail the task, which the driver gives to other workers and, failing again, reports; a
/// closure that returns a `Result` itself declares it (`|part| -> Result<T, E> { .. }`).
///
/// Without a `barrier!` before it, the reduce waits for every partition and combines their
/// results with `asyncopt_runtime::Combine` (a mean for `f64`, `Array1<f64>`, `Array2<f64>` and
/// `ArrayD<f64>`, element by element for tuples). After a
/// `barrier!`, it returns the next result to arrive; `max_staleness = n` drops results more
/// than `n` updates old. The result must be serializable. `collect = all` (after a `barrier!`)
/// makes it a drain, as ASYNC's `ASYNCcollectAll`: it waits for one result, then returns it
/// with every other result already received, as `Vec<Collected<R>>` (value and metadata).
/// Either way one `reduce!` call is one update, one tick of the clock staleness counts in.
///
/// `w.at(v)` inside the closure, for a broadcast `w`, reads version `v` (a `u64` computed on the
/// driver, e.g. `cx.version("w")` or `cx.last_result()` then `version_of("w")`) instead of the
/// latest, as ASYNC's `value(version)`: a `&T`, as `w` is. `v` is evaluated on the driver when
/// the task is sent; the worker serves the version from its cache, and is sent it again if it
/// was evicted. The driver keeps the last `ClusterConfig::keep_versions` versions (16): to read
/// further back, call `cx.keep_versions(n)` before; an older or unpublished version ends the
/// run with `RuntimeError::VersionUnavailable`. In the driver's own code `w` is the latest
/// version and `w.at(v)` is a compile error: read an older one with `cx.value_at::<T>("w", v)`.
/// In the closure and in the driver's code, `x.at(v)` of a variable of the function that no
/// `broadcast!` publishes is a compile error that says so (a method of your own named `at`:
/// call it as `Type::at(&x, v)`; a closure's own parameter or an item keeps `x.at(v)`).
/// Here the workers take the gradient at a point extrapolated from the previous version:
///
/// ```no_run
/// # use asyncopt_algorithms::{Model, Params};
/// # use asyncopt_runtime::{async_optimizer, Dataset, Driver};
/// # #[async_optimizer]
/// # fn example(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
/// let mut w: Model = Model::zeros(data.dim());
/// let mut before: u64 = 1; // versions are numbered from 1
/// for k in 0..p.updates {
///     broadcast!(w);
///     let now: u64 = cx.version("w").expect("broadcast above");
///     let g = reduce!(data.sample(p.batch, k), |batch| {
///         let previous: &Model = w.at(before);
///         let ahead: Model = &*w + &(0.5 * (&*w - previous));
///         p.loss.gradient(batch, ahead.view())
///     });
///     w.scaled_add(-p.step, &g);
///     before = now;
/// }
/// w
/// # }
/// # fn main() {}
/// ```
///
/// Anywhere else it is a compile error.
#[proc_macro]
pub fn reduce(input: TokenStream) -> TokenStream {
    let _ = input;
    outside("reduce")
}

#[cfg(test)]
mod tests {
    /// The task ids (`"f#N"`) the expansion of `item` registers, in order.
    fn task_ids(item: &str) -> Vec<String> {
        let expanded = super::optimizer(
            proc_macro2::TokenStream::new(),
            item.parse().expect("the item parses"),
        )
        .to_string();
        expanded
            .split('"')
            .filter(|s| s.starts_with("f#"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_task_id_counts_the_reduce_sites_of_its_function_only() {
        // Its only reduce! after a barrier! is #1: N says which reduce! of the function.
        let ids = task_ids(
            "fn f(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
                let mut w: Model = Model::zeros(data.dim());
                for k in 0..p.updates {
                    broadcast!(w);
                    barrier!(asp());
                    let g: Model = reduce!(data, |part| part.gradient(&w));
                    barrier!(asp());
                    let h: Model = reduce!(data, |part| part.gradient(&w));
                    w -= &g;
                }
                w
            }",
        );
        assert_eq!(ids, ["f#1", "f#2"]);
    }
}
