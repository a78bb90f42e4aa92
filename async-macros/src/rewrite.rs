//! The walk over the optimizer's body: it tracks the variables in scope and the enclosing
//! loops, checks each DSL site against them, and replaces the site with its expansion.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, ToTokens};
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, ExprClosure, Ident, Label, Lifetime, Macro, Stmt, Type};

use crate::captures::{changed_variables, free_variables};
use crate::errors::Errors;
use crate::expand::{self, Capture, Read, Reduce, Source};
use crate::scope::{same, Binding, Origin, Scopes};
use crate::sites::{BarrierSite, BroadcastSite, ReduceSite};

/// The DSL macros, by name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dsl {
    Broadcast,
    Barrier,
    Reduce,
}

impl Dsl {
    /// The DSL macro `mac` calls: a bare `reduce!`, or one named through the crates that
    /// export it (`asyncopt_runtime::reduce!`). A macro of the same name by another path
    /// (`my_crate::reduce!`) is someone else's, left to rustc.
    pub(crate) fn of(mac: &Macro) -> Option<Dsl> {
        let segments = &mac.path.segments;
        let (last, prefix) = (segments.last()?, segments.iter().rev().skip(1).rev());
        let prefix: Vec<String> = prefix.map(|s| s.ident.to_string()).collect();
        if !dsl_path(&prefix, mac.path.leading_colon.is_some())
            || segments.iter().any(|s| !s.arguments.is_none())
        {
            return None;
        }
        match last.ident.to_string().as_str() {
            "broadcast" => Some(Dsl::Broadcast),
            "barrier" => Some(Dsl::Barrier),
            "reduce" => Some(Dsl::Reduce),
            _ => None,
        }
    }
}

/// The crates whose paths name the DSL macros: the runtime re-exports them from this one.
const DSL_CRATES: [&str; 2] = ["asyncopt_runtime", "asyncopt_macros"];

/// Whether a macro path whose segments before the name are `prefix` names the DSL: no
/// prefix (and no leading `::`), or one of [`DSL_CRATES`].
fn dsl_path(prefix: &[String], leading_colon: bool) -> bool {
    match prefix {
        [] => !leading_colon,
        [krate] => DSL_CRATES.contains(&krate.as_str()),
        _ => false,
    }
}

/// A barrier waiting for the reduce it governs.
struct PendingBarrier {
    barrier: expand::Barrier,
    site: TokenStream,
    depth: usize,
    /// The branches (`if`, `match` arms, the right of `&&` and `||`) it stands in.
    branches: usize,
}

/// What the walk keeps per block: whether a reduce already ran in it.
/// How a `reduce!` closure's local variables reach the workers.
#[derive(Default)]
struct ClosureUses {
    /// Sent with each task.
    captures: Vec<Capture>,
    /// Read from the worker's cache of broadcast versions.
    reads: Vec<Read>,
    /// History tables: each task carries only its rows' entries.
    histories: Vec<Ident>,
}

#[derive(Default)]
struct BlockState {
    reduced: bool,
    /// In a block other than the function's body: the items it declares, which the workers'
    /// copy of a closure cannot name, and the imports it carries along (a trait whose method a
    /// closure calls, a constant's path).
    items: Vec<Ident>,
    uses: Vec<syn::ItemUse>,
}

/// Walks one optimizer function.
pub struct Rewriter<'a> {
    fn_name: Ident,
    driver: Ident,
    scopes: Scopes,
    errors: &'a mut Errors,
    /// Worker functions and registrations, emitted at the top of the function's body.
    pub tasks: Vec<TokenStream>,
    /// Whether a closure captures a range counter, whose `usize` type needs a check.
    pub counter_captured: bool,
    /// The label of the training loop: the first outermost loop with a `broadcast!`, else
    /// the first with DSL sites (a final evaluation in a loop of its own after it is not).
    pub training_loop: Option<Lifetime>,
    /// Whether `training_loop` has a `broadcast!`.
    training_loop_broadcasts: bool,
    /// Whether the outermost loop being walked has a `broadcast!`.
    loop_broadcasts: bool,
    broadcast_vars: Vec<Ident>,
    /// Every variable a `broadcast!` of the function names, wherever it stands.
    broadcast_somewhere: Vec<Ident>,
    /// The variable the function returns, if it is one: the model observers watch.
    model: Option<Ident>,
    loops: usize,
    closures: usize,
    exit: Option<(Lifetime, bool)>,
    barrier: Option<PendingBarrier>,
    blocks: Vec<BlockState>,
    sites: usize,
    /// Outermost loops entered so far: inside one, its number.
    loops_begun: usize,
    /// The branches being walked: `if` and `else` blocks, `match` arms, the right of `&&`
    /// and `||`, code that may or may not run.
    branches: usize,
}

impl<'a> Rewriter<'a> {
    pub fn new(
        fn_name: Ident,
        driver: Ident,
        model: Option<Ident>,
        broadcast_somewhere: Vec<Ident>,
        scopes: Scopes,
        errors: &'a mut Errors,
    ) -> Self {
        Rewriter {
            fn_name,
            driver,
            scopes,
            errors,
            tasks: Vec::new(),
            counter_captured: false,
            training_loop: None,
            training_loop_broadcasts: false,
            loop_broadcasts: false,
            broadcast_vars: Vec::new(),
            broadcast_somewhere,
            model,
            loops: 0,
            closures: 0,
            exit: None,
            barrier: None,
            blocks: Vec::new(),
            sites: 0,
            loops_begun: 0,
            branches: 0,
        }
    }

    /// Checks where a DSL macro stands; returns the label that leaves the training loop.
    fn placement(&mut self, mac: &Macro, name: &str) -> Option<Lifetime> {
        if self.closures > 0 {
            self.errors.at(
                mac,
                format!(
                    "{name}! cannot be used inside a closure, whose code #[async_optimizer] does not rewrite: \
                     write it in the training loop itself"
                ),
            );
            return None;
        }
        match &mut self.exit {
            Some((label, used)) if self.loops > 0 => {
                *used = true;
                Some(label.clone())
            }
            _ => {
                self.errors.at(
                    mac,
                    format!(
                        "{name}! belongs inside the training loop (e.g. `for k in 0..p.updates {{ ... }}`): \
                         it leaves that loop when a stop rule fires"
                    ),
                );
                None
            }
        }
    }

    /// Expands a DSL statement; `None` leaves the statement as it is.
    fn rewrite_macro(&mut self, mac: &Macro, dsl: Dsl) -> Option<TokenStream> {
        match dsl {
            Dsl::Broadcast => {
                let site: BroadcastSite = self.parse(mac)?;
                let exit = self.placement(mac, "broadcast")?;
                let Some(binding) = self.scopes.lookup_mut(&site.var) else {
                    self.errors.at(
                        &site.var,
                        format!(
                            "cannot find variable `{var}` to broadcast: declare it before the training loop, \
                             e.g. `let mut {var}: Model = ...;`",
                            var = site.var
                        ),
                    );
                    return None;
                };
                binding.broadcast = Some(self.loops_begun);
                self.loop_broadcasts = true;
                if !self.broadcast_vars.iter().any(|v| same(v, &site.var)) {
                    self.broadcast_vars.push(site.var.clone());
                }
                // The returned variable is the model; without one, the first broadcast is.
                let is_model = match &self.model {
                    Some(model) => same(model, &site.var),
                    None => same(&self.broadcast_vars[0], &site.var),
                };
                Some(expand::broadcast(&self.driver, &site.var, is_model, &exit))
            }
            Dsl::Barrier => {
                let site: BarrierSite = self.parse(mac)?;
                self.placement(mac, "barrier")?;
                if self.barrier.is_some() {
                    self.errors.at(
                        mac,
                        "a barrier! already governs the next reduce!, and a reduce! has one barrier!: \
                         combine both rules into one, e.g. \
                         `barrier!(|workers| workers.idle() >= 2 && workers.max_staleness_in_flight() < 4)`",
                    );
                    return None;
                }
                self.sites += 1;
                let barrier = expand::Barrier {
                    binding: format_ident!("__async_barrier_{}", self.sites),
                    span: arguments_span(mac),
                };
                let tokens = expand::barrier(&barrier, &site.rule, site.select.as_ref());
                self.barrier = Some(PendingBarrier {
                    barrier,
                    site: mac.to_token_stream(),
                    depth: self.blocks.len(),
                    branches: self.branches,
                });
                Some(tokens)
            }
            Dsl::Reduce => self.rewrite_reduce(mac),
        }
    }

    fn rewrite_reduce(&mut self, mac: &Macro) -> Option<TokenStream> {
        let site: Option<ReduceSite> = self.parse(mac);
        // Even with wrong arguments, this is the reduce! that a pending barrier! governs.
        let pending = self.barrier.take();
        if let Some(pending) = pending.as_ref().filter(|b| b.branches != self.branches) {
            // Another branch's reduce! would be synchronous, and in a branch not taken the
            // barrier governs nothing.
            self.errors.at(
                &pending.site,
                "barrier! governs the next reduce! of its block, and the next one is in a branch \
                 (an `if`, a `match` arm) that may not run, while another branch's reduce! would \
                 be synchronous: put a barrier! just before each reduce! it governs, inside its branch",
            );
            return None;
        }
        let barrier = pending.map(|b| b.barrier);
        if let Some(block) = self.blocks.last_mut() {
            block.reduced = true;
        }
        let mut site = site?;
        // `w.at(v)` of a broadcast `w`: a pinned read, its version evaluated on the driver.
        let pins = self.pin_reads(&mut site.closure);
        // A one-off reduce! before (or after) the training loop, such as an initial full
        // gradient, is synchronous and has no loop to leave.
        let one_off = self.loops == 0 && self.closures == 0 && barrier.is_none();
        let exit = if one_off {
            None
        } else {
            Some(self.placement(mac, "reduce")?)
        };
        self.check_closure_shape(&site)?;
        let source = Source::of(&site.data);
        let data_expr = source.data();
        let pins = pins?;
        // Both kinds of mistake are said before giving up, each where it is.
        let changes_allowed = self.check_changed_variables(&site.closure);
        let uses = self.classify_free_variables(&site.closure, data_expr, one_off);
        let ClosureUses {
            captures,
            mut reads,
            histories,
        } = uses.filter(|_| changes_allowed)?;
        self.check_returns_no_cache_reference(&site.closure, &reads)?;
        reads.extend(pins);
        if site.collect.is_some() && barrier.is_none() {
            self.errors.at(
                &site.collect,
                "collect = all drains the results of an asynchronous reduce!: put a `barrier!(...)` \
                 before this reduce!, or remove the option (a synchronous reduce! combines every partition)",
            );
            return None;
        }
        self.sites += 1;
        let reduce = Reduce {
            driver: &self.driver,
            fn_name: &self.fn_name,
            index: self.sites,
            source,
            closure: &site.closure,
            captures,
            reads,
            histories,
            uses: self.carried_uses(),
            barrier,
            max_staleness: site.max_staleness.as_ref(),
            collect: site.collect.is_some(),
            exit: exit.as_ref(),
            span: arguments_span(mac),
            at: mac
                .path
                .segments
                .last()
                .map_or_else(|| arguments_span(mac), |segment| segment.ident.span()),
        };
        if reduce.barrier.is_none() && reduce.max_staleness.is_some() {
            self.errors.at(
                &site.max_staleness_option,
                "max_staleness bounds an asynchronous reduce!: put a `barrier!(...)` before this reduce!, \
                 or remove the bound",
            );
            return None;
        }
        self.tasks.push(reduce.task());
        Some(reduce.call())
    }

    /// One argument, not `async`, and a minibatch `data.sample(batch, k)` with both its
    /// arguments; `None` after an error.
    fn check_closure_shape(&mut self, site: &ReduceSite) -> Option<()> {
        if site.closure.inputs.len() != 1 {
            self.errors.at(
                &site.closure.inputs,
                format!(
                    "the reduce! closure takes exactly one argument, the partition (`|part| ...`), not {}",
                    site.closure.inputs.len()
                ),
            );
            return None;
        }
        if let Some(asyncness) = &site.closure.asyncness {
            self.errors.at(
                asyncness,
                "the reduce! closure runs on workers synchronously: remove `async`",
            );
            return None;
        }
        if let Expr::MethodCall(call) = &site.data {
            if call.method == "sample" && call.args.len() != 2 {
                self.errors.at(
                    call,
                    "a minibatch is `data.sample(batch, k)`: its size and the update number `k`, \
                     from which driver and workers draw the same rows",
                );
                return None;
            }
        }
        Some(())
    }

    /// Refuses a driver's variable that `closure` assigns to or borrows mutably: the change
    /// would be made to a worker's copy. Whether none was found.
    fn check_changed_variables(&mut self, closure: &ExprClosure) -> bool {
        let mut allowed = true;
        for name in changed_variables(closure) {
            let Some(binding) = self.scopes.lookup(&name) else {
                continue; // not a local: a static, changed as Rust allows
            };
            if binding.origin.is_block_item() {
                continue; // said with its other uses
            }
            let what = match binding.broadcast {
                Some(_) => "the broadcast variable",
                None => "the driver's variable",
            };
            self.errors.at(
                &name,
                format!(
                    "a reduce! closure runs on a worker, on a copy of `{name}`: a change there \
                     never reaches {what} `{name}`; return what the task computes from the \
                     closure and change `{name}` after the reduce!"
                ),
            );
            allowed = false;
        }
        allowed
    }

    /// What each local variable `closure` uses travels as: a capture sent with the task, a
    /// broadcast read from the worker's cache, or a history table's rows. `None` after an
    /// error, once every variable has been checked.
    fn classify_free_variables(
        &mut self,
        closure: &ExprClosure,
        data_expr: &Expr,
        one_off: bool,
    ) -> Option<ClosureUses> {
        let data_name = match data_expr {
            Expr::Path(path) => path.path.get_ident().cloned(),
            _ => None,
        };
        let mut uses = ClosureUses::default();
        let mut failed = false;
        for name in free_variables(closure) {
            let Some(binding) = self.scopes.lookup(&name).cloned() else {
                continue; // not a local: a constant, a function or a type, resolved as usual
            };
            if !data_name.as_ref().is_some_and(|d| same(d, &name))
                && binding.ty.as_ref().is_some_and(is_dataset)
            {
                // A whole dataset would travel with every task: the closure's rows come from
                // the reduce!'s data argument.
                let data = data_expr.to_token_stream();
                self.errors.at(
                    &name,
                    format!(
                        "a reduce! closure cannot capture the dataset `{name}`: it would be sent whole with every task; \
                         the closure's rows come from the reduce!'s data argument (`{data}`), one partition at a time"
                    ),
                );
                self.errors.at(
                    data_expr,
                    format!(
                        "the data argument of this reduce!: to compute over `{name}`, give it its own \
                         `reduce!({name}, |part| ...)`, or make `{name}` the data argument here"
                    ),
                );
                failed = true;
                continue;
            }
            if let Some((message, at_declaration)) =
                self.capture_error(&binding, &name, data_name.as_ref())
            {
                // An unknown type is fixed where the variable is declared; anything else, in
                // the closure.
                let at = if at_declaration { &binding.name } else { &name };
                self.errors.at(at, message);
                failed = true;
                continue;
            }
            let ty = binding.ty.expect("checked by capture_error");
            if is_history(&ty) {
                uses.histories.push(name);
            } else if binding.broadcast == Some(self.loops_begun) && !one_off {
                // Outside the loop of its broadcast! a variable may have changed since (a final
                // evaluation after the loop, alone or in a loop of its own): its value travels.
                let site = self
                    .broadcast_vars
                    .iter()
                    .find(|var| same(var, &name))
                    .map_or_else(|| name.span(), Ident::span);
                uses.reads.push(Read {
                    var: name.clone(),
                    name,
                    ty,
                    site,
                    at: None,
                });
            } else {
                let counter = binding.origin == Origin::Counter;
                self.counter_captured |= counter;
                // A broadcast variable is a `&T` in every closure, whether read from the cache
                // or, outside the training loop, sent with its current value.
                let declared = match ty {
                    Type::Reference(_) => ty,
                    ty if binding.broadcast.is_some() => expand::reference_to(ty),
                    ty => ty,
                };
                uses.captures.push(Capture {
                    name,
                    declared,
                    counter,
                });
            }
        }
        (!failed).then_some(uses)
    }

    /// The closure sees a broadcast variable as a reference into the worker's cache, and a
    /// reference cannot travel back: said here, not as a missing serde impl for `&T`; so is a
    /// closure whose value is written as a reference (`&names[0]`).
    fn check_returns_no_cache_reference(
        &mut self,
        closure: &ExprClosure,
        reads: &[Read],
    ) -> Option<()> {
        if let Expr::Path(path) = &*closure.body {
            if let Some(read) = reads.iter().find(|r| path.path.is_ident(&r.name)) {
                self.errors.at(
                    path,
                    format!(
                        "the closure sees the broadcast `{name}` as a `&{ty}` into the worker's \
                         cache, which cannot travel back: return `*{name}` or `{name}.clone()`",
                        name = read.name,
                        ty = read.ty.to_token_stream()
                    ),
                );
                return None;
            }
        }
        if let Some(reference) = returned_reference(&closure.body) {
            self.errors.at(
                reference,
                "the reduce! closure returns a reference, which cannot travel back from the \
                 worker (a result is sent by value): return an owned value, such as a \
                 `.clone()` of what it points to",
            );
            return None;
        }
        Some(())
    }

    /// Replaces each `w.at(v)` of a broadcast variable `w` in the closure with a binding of its
    /// own, read at version `v` (evaluated on the driver); `None` after an error.
    fn pin_reads(&mut self, closure: &mut syn::ExprClosure) -> Option<Vec<Read>> {
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
            errors: Vec::new(),
            own,
        };
        finder.visit_expr_mut(&mut closure.body);
        let PinFinder { found, errors, .. } = finder;
        let failed = !errors.is_empty();
        for error in errors {
            self.errors.push(error);
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

    /// Why `name` cannot be captured, if it cannot, and whether the fix is at its declaration.
    fn capture_error(
        &self,
        binding: &Binding,
        name: &Ident,
        data: Option<&Ident>,
    ) -> Option<(String, bool)> {
        if binding.origin == Origin::LoopItem {
            return Some((
                format!(
                    "`{name}` is declared inside the loop, and the workers' copy of a reduce! \
                     closure is compiled outside of it, where `{name}` is not in scope: declare \
                     it at the top of the function, or outside it"
                ),
                true,
            ));
        }
        if binding.origin == Origin::BlockItem {
            return Some((
                format!(
                    "`{name}` is declared in a block inside the function, and the workers' copy of \
                     a reduce! closure is compiled at the top of the function's body, where `{name}` \
                     is not in scope: declare it at the top of the function's body, or outside the \
                     function"
                ),
                true,
            ));
        }
        if binding.origin == Origin::Driver {
            return Some((
                format!(
                    "a reduce! closure runs on the workers and cannot use the driver `{name}`: \
                     read what it needs before the reduce! (e.g. `let n: usize = {name}.workers().alive();`) \
                     and use that value"
                ),
                false,
            ));
        }
        if data.is_some_and(|d| same(d, name)) {
            return Some((
                format!(
                    "the closure runs on one partition of `{name}` at a time: use the closure's argument \
                     (`|part| part...`) instead of `{name}`"
                ),
                false,
            ));
        }
        match &binding.ty {
            None if binding.origin == Origin::Let => Some((
                match &binding.hint {
                    Some(ty) if ty == CLOSURE => format!(
                        "`{name}` is a closure, and a closure cannot travel to the workers (only values do): \
                         write it as a `fn` item, which a reduce! closure calls without capturing it"
                    ),
                    Some(ty) => format!(
                        "`{name}` is captured by a reduce! closure, so its type must be written where it is declared: \
                         annotate it, `let {name}: {ty} = ...;`"
                    ),
                    None => format!(
                        "`{name}` is captured by a reduce! closure, so its type must be written where it is declared: \
                         annotate it with its type, `let {name}: TYPE = ...;`"
                    ),
                },
                true,
            )),
            None => Some((
                format!(
                    "`{name}` is captured by a reduce! closure, but the macro cannot see its type where it is bound: \
                     bind it to a variable with its type written before the reduce!, `let {name}: TYPE = {name};`, \
                     or iterate over a variable whose type is written (`v.iter()` for `v: Vec<f64>` gives `&f64`)"
                ),
                false,
            )),
            Some(ty) if has_impl_trait(ty) => Some((
                format!(
                    "`{name}` is captured by a reduce! closure, and its type `{}` is generic: each \
                     process must name the type a capture travels as, so give `{name}` a concrete type",
                    ty.to_token_stream()
                ),
                true,
            )),
            Some(Type::Reference(reference)) if reference.mutability.is_some() => Some((
                format!(
                    "`{name}` is a mutable reference: a reduce! closure runs on workers and cannot write back; \
                     return the value from the closure instead"
                ),
                false,
            )),
            // A `&T` travels as a `T`, which a slice or a `str` cannot be.
            Some(Type::Reference(reference)) if unsized_owner(&reference.elem).is_some() => {
                let owner = unsized_owner(&reference.elem).unwrap_or_default();
                Some((
                    format!(
                        "`{name}` is captured by a reduce! closure, which sends what it refers to, and a \
                         `{}` has no size of its own to send: capture a `{owner}` instead, \
                         `let {name}: {owner} = {name}.to_owned();` before the reduce!",
                        reference.elem.to_token_stream(),
                    ),
                    false,
                ))
            }
            Some(_) => None,
        }
    }

    fn parse<T: syn::parse::Parse>(&mut self, mac: &Macro) -> Option<T> {
        match mac.parse_body::<T>() {
            Ok(site) => Some(site),
            Err(error) => {
                self.errors.push(error);
                None
            }
        }
    }

    /// A `#[cfg]` on a DSL statement: the macro cannot know whether it holds, and the site's
    /// expansion (a broadcast that leaves the loop, a barrier the next reduce! uses) would run
    /// either way.
    fn refuse_conditional(&mut self, attrs: &[syn::Attribute], mac: &Macro) {
        let name = mac
            .path
            .segments
            .last()
            .map_or_else(String::new, |s| s.ident.to_string());
        // A barrier! governs the next reduce! of its block: both go in the conditional block.
        let instead = if name == "barrier" {
            "`if cfg!(...) { barrier!(...); let g = reduce!(...); ... }`".to_string()
        } else {
            format!("`if cfg!(...) {{ {name}!(...); }}`")
        };
        for attr in attrs {
            if attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr") {
                self.errors.at(
                    attr,
                    format!(
                        "#[async_optimizer] rewrites {name}! whatever this attribute says, so it \
                         cannot make the statement conditional: write {instead}"
                    ),
                );
            }
        }
    }

    /// A DSL macro among another macro's arguments (`println!("{}", reduce!(..))`): the
    /// attribute does not rewrite what other macros hold, and rustc would then look for a
    /// macro of that name to import.
    fn refuse_nested(&mut self, mac: &Macro) {
        if Dsl::of(mac).is_some() {
            return; // its own arguments are said where they are parsed
        }
        let outer = mac
            .path
            .segments
            .last()
            .map_or_else(String::new, |s| s.ident.to_string());
        for name in nested_dsl(mac.tokens.clone()) {
            self.errors.at(
                &name,
                format!(
                    "#[async_optimizer] does not rewrite a {name}! inside the arguments of {outer}!: \
                     write it as a statement of its own before it (`let g = {name}!(...);`) and \
                     pass its result"
                ),
            );
        }
    }

    /// Binds the items of a block other than the function's body, which a reduce! closure
    /// cannot name, and keeps its imports to carry along, but for those that name such an
    /// item (`use Local::Variant`), whose names are bound as the item's.
    fn bind_block_items(&mut self, stmts: &[Stmt]) {
        let origin = if self.loops > 0 {
            Origin::LoopItem
        } else {
            Origin::BlockItem
        };
        let items = crate::scope::item_names(stmts);
        if let Some(block) = self.blocks.last_mut() {
            block.items.clone_from(&items);
        }
        let local: Vec<Ident> = self.blocks[1..]
            .iter()
            .flat_map(|b| b.items.iter().cloned())
            .collect();
        let mut carried = Vec::new();
        let mut stuck = Vec::new();
        for stmt in stmts {
            if let Stmt::Item(syn::Item::Use(item)) = stmt {
                let roots = crate::scope::use_roots(item);
                if roots.iter().any(|r| local.iter().any(|l| same(l, r))) {
                    stuck.extend(crate::scope::imported_names(&item.tree));
                } else {
                    carried.push(item.clone());
                }
            }
        }
        if let Some(block) = self.blocks.last_mut() {
            block.uses = carried;
        }
        self.scopes.bind_block_items(items, origin);
        self.scopes.bind_block_items(stuck, origin);
    }

    /// The imports a reduce! closure here carries along, of each enclosing block other than
    /// the function's body, outermost first.
    fn carried_uses(&self) -> Vec<Vec<syn::ItemUse>> {
        self.blocks
            .iter()
            .skip(1)
            .filter(|b| !b.uses.is_empty())
            .map(|b| b.uses.clone())
            .collect()
    }

    /// A barrier must meet its reduce in the block where it stands.
    fn close_block(&mut self) {
        let depth = self.blocks.len();
        let state = self.blocks.pop().unwrap_or_default();
        if let Some(pending) = self.barrier.take_if(|b| b.depth == depth) {
            let message = if state.reduced {
                "barrier! must come before the reduce! it governs: move it above that reduce!"
            } else {
                "barrier! governs the next reduce! of its block, but none follows it: \
                 put the reduce! after it, or remove the barrier!"
            };
            self.errors.at(pending.site, message);
        }
    }

    /// Refuses `w.at(v)` of a broadcast variable in the driver's code: a pinned read is served
    /// by the workers' caches inside a `reduce!` closure only, and rustc would say no more than
    /// that `w`'s type has no method `at`.
    fn refuse_pinned_read_on_the_driver(&mut self, call: &syn::ExprMethodCall) {
        let Expr::Path(path) = &*call.receiver else {
            return;
        };
        let Some(var) = path.path.get_ident().filter(|_| path.qself.is_none()) else {
            return;
        };
        let published = self
            .scopes
            .lookup(var)
            .is_some_and(|binding| binding.broadcast.is_some());
        if call.method == "at" && published {
            self.errors.at(
                call,
                format!(
                    "`{var}.at(..)` reads an older version of `{var}` inside a reduce! closure only, \
                     where the workers serve it; here, on the driver, `{var}` is the latest version: \
                     keep a copy of the value you need later (`let old = {var}.clone();`), or move \
                     the read into the closure (a method of your own named `at`: call it as \
                     `Type::at(&{var}, ..)`)"
                ),
            );
        }
    }

    /// Walks a loop's body; whether the loop is the training loop.
    fn enter_loop(&mut self, label: &mut Option<Label>, body: &mut Block) -> bool {
        let outermost = self.loops == 0 && self.closures == 0;
        if outermost {
            self.loops_begun += 1;
            let name = label.as_ref().map(|l| l.name.clone()).unwrap_or_else(|| {
                // One label per loop: checkpoints find the training loop by its label.
                let name = format!("'__async_loop_{}", self.loops_begun);
                Lifetime::new(&name, Span::call_site())
            });
            self.exit = Some((name, false));
            self.loop_broadcasts = false;
        }
        self.loops += 1;
        self.visit_block_mut(body);
        self.loops -= 1;
        if outermost {
            if let Some((name, true)) = self.exit.take() {
                // A later loop is the training loop only if it broadcasts and the first did not.
                if self.training_loop.is_none()
                    || (self.loop_broadcasts && !self.training_loop_broadcasts)
                {
                    self.training_loop = Some(name.clone());
                    self.training_loop_broadcasts = self.loop_broadcasts;
                }
                if label.is_none() {
                    *label = Some(Label {
                        name,
                        colon_token: Default::default(),
                    });
                }
                return true;
            }
        }
        false
    }
}

impl VisitMut for Rewriter<'_> {
    fn visit_block_mut(&mut self, block: &mut Block) {
        self.scopes.push();
        self.blocks.push(BlockState::default());
        // The function's own body is in scope where the workers' copy of a closure is.
        if self.blocks.len() > 1 && self.closures == 0 {
            self.bind_block_items(&block.stmts);
        }
        for stmt in &mut block.stmts {
            match stmt {
                Stmt::Local(local) => {
                    if let Some(init) = &mut local.init {
                        self.visit_expr_mut(&mut init.expr);
                        if let Some((_, diverge)) = &mut init.diverge {
                            self.visit_expr_mut(diverge);
                        }
                    }
                    self.scopes.bind_pattern(&local.pat, None);
                    if let syn::Pat::Ident(ident) = &local.pat {
                        let hint = local.init.as_ref().and_then(|init| guess_type(&init.expr));
                        if let Some(binding) = self.scopes.lookup_mut(&ident.ident) {
                            binding.origin = Origin::Let;
                            binding.hint = hint;
                        }
                    }
                }
                Stmt::Macro(stmt_mac) => {
                    self.refuse_nested(&stmt_mac.mac);
                    if let Some(dsl) = Dsl::of(&stmt_mac.mac) {
                        self.refuse_conditional(&stmt_mac.attrs, &stmt_mac.mac);
                        let mac = stmt_mac.mac.clone();
                        let expanded = self.rewrite_macro(&mac, dsl);
                        if let Some(tokens) = expanded {
                            *stmt = Stmt::Expr(Expr::Verbatim(wrap(tokens, dsl)), None);
                        } else {
                            *stmt = Stmt::Expr(Expr::Verbatim(TokenStream::new()), None);
                        }
                    }
                }
                Stmt::Item(_) => {}
                Stmt::Expr(expr, _) => self.visit_expr_mut(expr),
            }
        }
        self.close_block();
        self.scopes.pop();
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::Macro(expr_mac) = expr {
            self.refuse_nested(&expr_mac.mac);
            if let Some(dsl) = Dsl::of(&expr_mac.mac) {
                let mac = expr_mac.mac.clone();
                if dsl != Dsl::Reduce {
                    let name = if dsl == Dsl::Broadcast {
                        "broadcast"
                    } else {
                        "barrier"
                    };
                    self.errors.at(
                        &mac,
                        format!(
                            "{name}! is a statement: write it on its own line, ending with `;`"
                        ),
                    );
                    *expr = syn::parse_quote!(());
                    return;
                }
                *expr = match self.rewrite_macro(&mac, dsl) {
                    Some(tokens) => Expr::Verbatim(tokens),
                    None => syn::parse_quote!(::core::unreachable!()),
                };
                return;
            }
        }
        if let Expr::MethodCall(call) = expr {
            self.refuse_pinned_read_on_the_driver(call);
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_expr_for_loop_mut(&mut self, for_loop: &mut syn::ExprForLoop) {
        self.visit_expr_mut(&mut for_loop.expr);
        self.scopes.push();
        let elem = element_type(&for_loop.expr, &self.scopes);
        self.scopes.bind_pattern(&for_loop.pat, elem.as_ref());
        // A range counter and an `enumerate()` counter are `usize`s, checked where captured.
        let counter = match (&*for_loop.expr, for_loop.pat.as_ref()) {
            (Expr::Range(_), syn::Pat::Ident(ident)) => Some(&ident.ident),
            (Expr::MethodCall(call), syn::Pat::Tuple(tuple)) if is_enumerate(call) => {
                match tuple.elems.first() {
                    Some(syn::Pat::Ident(ident)) => Some(&ident.ident),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(counter) = counter {
            if let Some(binding) = self.scopes.lookup_mut(counter) {
                binding.origin = Origin::Counter;
            }
        }
        self.enter_loop(&mut for_loop.label, &mut for_loop.body);
        self.scopes.pop();
    }

    fn visit_expr_while_mut(&mut self, while_loop: &mut syn::ExprWhile) {
        // A `while let` binds its names for the body only.
        self.scopes.push();
        self.visit_expr_mut(&mut while_loop.cond);
        self.enter_loop(&mut while_loop.label, &mut while_loop.body);
        self.scopes.pop();
    }

    fn visit_expr_if_mut(&mut self, if_expr: &mut syn::ExprIf) {
        // An `if let` binds its names for the first branch only.
        self.scopes.push();
        self.visit_expr_mut(&mut if_expr.cond);
        self.branches += 1;
        self.visit_block_mut(&mut if_expr.then_branch);
        self.scopes.pop();
        if let Some((_, else_branch)) = &mut if_expr.else_branch {
            self.visit_expr_mut(else_branch);
        }
        self.branches -= 1;
    }

    fn visit_expr_binary_mut(&mut self, binary: &mut syn::ExprBinary) {
        self.visit_expr_mut(&mut binary.left);
        // The right of `&&` and `||` runs only as the left decides.
        let branch = matches!(binary.op, syn::BinOp::And(_) | syn::BinOp::Or(_));
        self.branches += usize::from(branch);
        self.visit_expr_mut(&mut binary.right);
        self.branches -= usize::from(branch);
    }

    fn visit_expr_let_mut(&mut self, let_expr: &mut syn::ExprLet) {
        self.visit_expr_mut(&mut let_expr.expr);
        self.scopes.bind_refutable(&let_expr.pat);
    }

    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        self.scopes.push();
        self.branches += 1;
        self.scopes.bind_refutable(&arm.pat);
        if let Some((_, guard)) = &mut arm.guard {
            self.visit_expr_mut(guard);
        }
        self.visit_expr_mut(&mut arm.body);
        self.branches -= 1;
        self.scopes.pop();
    }

    fn visit_expr_loop_mut(&mut self, loop_expr: &mut syn::ExprLoop) {
        let own_label = loop_expr.label.as_ref().map(|l| l.name.clone());
        if self.enter_loop(&mut loop_expr.label, &mut loop_expr.body) {
            // A stop rule leaves the training loop with a plain `break`, which gives no value.
            let mut finder = ValuedBreaks {
                label: own_label,
                depth: 0,
                found: Vec::new(),
            };
            syn::visit::Visit::visit_block(&mut finder, &loop_expr.body);
            for at in finder.found {
                self.errors.at(
                    at,
                    "the training loop cannot give a value with `break value`: a stop rule leaves \
                     it with none. Assign the value to a variable declared before the loop, then \
                     `break;`",
                );
            }
        }
    }

    fn visit_expr_closure_mut(&mut self, closure: &mut syn::ExprClosure) {
        self.closures += 1;
        self.scopes.push();
        for input in &closure.inputs {
            self.scopes.bind_pattern(input, None);
        }
        self.visit_expr_mut(&mut closure.body);
        self.scopes.pop();
        self.closures -= 1;
    }

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {
        // Nested items are not part of the loop.
    }
}

/// The `break value`s that leave a loop: unlabelled ones outside its nested loops, and those
/// that name its label; not those inside closures or items.
struct ValuedBreaks {
    label: Option<Lifetime>,
    depth: usize,
    found: Vec<TokenStream>,
}

impl<'ast> syn::visit::Visit<'ast> for ValuedBreaks {
    fn visit_expr_break(&mut self, brk: &'ast syn::ExprBreak) {
        let leaves = match &brk.label {
            None => self.depth == 0,
            Some(label) => self.label.as_ref() == Some(label),
        };
        // `break ()` gives the unit a plain `break` gives too.
        let unit = matches!(brk.expr.as_deref(), Some(Expr::Tuple(t)) if t.elems.is_empty());
        if leaves && brk.expr.is_some() && !unit {
            self.found.push(brk.to_token_stream());
        }
        syn::visit::visit_expr_break(self, brk);
    }

    fn visit_expr_loop(&mut self, inner: &'ast syn::ExprLoop) {
        self.depth += 1;
        syn::visit::visit_expr_loop(self, inner);
        self.depth -= 1;
    }

    fn visit_expr_while(&mut self, inner: &'ast syn::ExprWhile) {
        self.depth += 1;
        syn::visit::visit_expr_while(self, inner);
        self.depth -= 1;
    }

    fn visit_expr_for_loop(&mut self, inner: &'ast syn::ExprForLoop) {
        self.depth += 1;
        syn::visit::visit_expr_for_loop(self, inner);
        self.depth -= 1;
    }

    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// Finds the pinned reads `w.at(v)` of broadcast variables in a closure's body.
struct PinFinder<'b> {
    broadcast: &'b [Ident],
    /// Variables broadcast only further down the function: no version of them exists here.
    not_yet: &'b [Ident],
    /// The binding that replaces each, the variable, and the version expression.
    found: Vec<(Ident, Ident, Expr)>,
    errors: Vec<syn::Error>,
    /// The closure's own parameters, which the driver cannot see.
    own: Vec<String>,
}

impl VisitMut for PinFinder<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::MethodCall(call) = expr {
            let var = match &*call.receiver {
                Expr::Path(path) if path.qself.is_none() => path.path.get_ident().cloned(),
                _ => None,
            };
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
            if let Some(var) =
                var.filter(|v| call.method == "at" && self.broadcast.iter().any(|b| same(b, v)))
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
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {}
}

/// The DSL macro names invoked among `tokens` (`reduce` in `reduce!(..)`), at any depth.
fn nested_dsl(tokens: TokenStream) -> Vec<Ident> {
    let trees: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
    let mut found = Vec::new();
    for (i, tree) in trees.iter().enumerate() {
        match tree {
            proc_macro2::TokenTree::Ident(ident)
                if ["broadcast", "barrier", "reduce"]
                    .iter()
                    .any(|n| ident == n) =>
            {
                let bang = matches!(
                    trees.get(i + 1),
                    Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '!'
                );
                let called = matches!(trees.get(i + 2), Some(proc_macro2::TokenTree::Group(_)));
                if bang && called && dsl_path_before(&trees, i) {
                    found.push(ident.clone());
                }
            }
            proc_macro2::TokenTree::Group(group) => found.extend(nested_dsl(group.stream())),
            _ => {}
        }
    }
    found
}

/// Whether the path that ends at `trees[end]` (`a::b::end`) names the DSL, as [`Dsl::of`] reads
/// a parsed one.
fn dsl_path_before(trees: &[proc_macro2::TokenTree], end: usize) -> bool {
    let colons = |at: usize| {
        at >= 2
            && [at - 1, at - 2].iter().all(
                |&j| matches!(&trees[j], proc_macro2::TokenTree::Punct(p) if p.as_char() == ':'),
            )
    };
    let mut prefix = Vec::new();
    let mut at = end;
    while colons(at) {
        match at.checked_sub(3).map(|j| &trees[j]) {
            Some(proc_macro2::TokenTree::Ident(segment)) => {
                prefix.push(segment.to_string());
                at -= 3;
            }
            _ => break,
        }
    }
    prefix.reverse();
    dsl_path(&prefix, colons(at))
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

/// Statement expansions are blocks of statements; a reduce used as a statement is an expression.
fn wrap(tokens: TokenStream, dsl: Dsl) -> TokenStream {
    match dsl {
        Dsl::Reduce => quote::quote!({ let _ = #tokens; }),
        _ => tokens,
    }
}

/// The span of a macro call's arguments with their delimiters, `(...)`: one span that covers
/// them all, where errors about the site as a whole point.
fn arguments_span(mac: &Macro) -> Span {
    match &mac.delimiter {
        syn::MacroDelimiter::Paren(d) => d.span.join(),
        syn::MacroDelimiter::Brace(d) => d.span.join(),
        syn::MacroDelimiter::Bracket(d) => d.span.join(),
    }
}

/// Binds the function's parameters; the first one is the driver.
pub fn bind_parameters(scopes: &mut Scopes, driver: &Ident, inputs: &[(syn::Pat, Type)]) {
    scopes.push();
    for (pat, ty) in inputs {
        scopes.bind_pattern(pat, Some(ty));
    }
    if let Some(binding) = scopes.lookup_mut(driver) {
        binding.origin = Origin::Driver;
    }
}

/// Whether `ty` is a dataset (`Dataset` or a reference to one).
fn is_dataset(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => is_dataset(&reference.elem),
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Dataset"),
        _ => false,
    }
}

/// Whether `ty` is a history table (`History` or a reference to one), whose entries travel
/// sliced to the task's rows instead of whole.
fn is_history(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => is_history(&reference.elem),
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "History"),
        _ => false,
    }
}

/// Whether a method call is `.enumerate()`.
fn is_enumerate(call: &syn::ExprMethodCall) -> bool {
    call.method == "enumerate" && call.args.is_empty()
}

/// The type of what `iter` yields in a `for` loop, as far as the declarations in scope show
/// it: `usize` for a range, `&T` for `v.iter()` or `&v` with `v: Vec<T>` (or a slice, an array,
/// an `Array1<T>`), `T` for `v` itself, `(usize, _)` for `.enumerate()` of any of these (`_`:
/// unknown).
fn element_type(iter: &Expr, scopes: &Scopes) -> Option<Type> {
    match iter {
        Expr::Range(_) => Some(syn::parse_quote!(usize)),
        Expr::Paren(paren) => element_type(&paren.expr, scopes),
        Expr::MethodCall(call) if is_enumerate(call) => {
            let item = element_type(&call.receiver, scopes)
                .unwrap_or_else(|| Type::Infer(syn::parse_quote!(_)));
            Some(syn::parse_quote!((usize, #item)))
        }
        Expr::MethodCall(call) if call.args.is_empty() && call.method == "iter" => {
            let (item, _) = container_item(&declared_type(&call.receiver, scopes)?)?;
            Some(expand::reference_to(item))
        }
        Expr::MethodCall(call) if call.args.is_empty() && call.method == "into_iter" => {
            element_type(&call.receiver, scopes)
        }
        Expr::Reference(reference) if reference.mutability.is_none() => {
            let (item, _) = container_item(&declared_type(&reference.expr, scopes)?)?;
            Some(expand::reference_to(item))
        }
        Expr::Path(_) => {
            let (item, by_reference) = container_item(&declared_type(iter, scopes)?)?;
            Some(if by_reference {
                expand::reference_to(item)
            } else {
                item
            })
        }
        _ => None,
    }
}

/// Whether `ty` has an `impl Trait` in it, which makes a parameter generic.
fn has_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_type(&mut finder, ty);
    finder.0
}

/// The declared type of a variable expression.
fn declared_type(expr: &Expr, scopes: &Scopes) -> Option<Type> {
    match expr {
        Expr::Path(path) => scopes.lookup(path.path.get_ident()?)?.ty.clone(),
        Expr::Paren(paren) => declared_type(&paren.expr, scopes),
        _ => None,
    }
}

/// The item type of a container type, and whether the type was a reference to it.
fn container_item(ty: &Type) -> Option<(Type, bool)> {
    match ty {
        Type::Reference(reference) if reference.mutability.is_none() => {
            container_item(&reference.elem).map(|(item, _)| (item, true))
        }
        Type::Slice(slice) => Some(((*slice.elem).clone(), false)),
        Type::Array(array) => Some(((*array.elem).clone(), false)),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            let known = ["Vec", "VecDeque", "Array1", "BTreeSet", "HashSet"];
            if !known.iter().any(|k| last.ident == k) {
                return None;
            }
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            match args.args.first()? {
                syn::GenericArgument::Type(item) if args.args.len() == 1 => {
                    Some((item.clone(), false))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The owned type of an unsized one a reference may point to: `Vec<T>` for `[T]`, `String`
/// for `str`.
fn unsized_owner(ty: &Type) -> Option<String> {
    match ty {
        Type::Slice(slice) => Some(format!("Vec<{}>", slice.elem.to_token_stream())),
        Type::Path(path) if path.path.is_ident("str") => Some("String".into()),
        _ => None,
    }
}

/// The hint of a `let` whose initializer is a closure, which has no type to write.
const CLOSURE: &str = "a closure";

/// The type an initializer shows plainly, to name in a fix-it: a float literal is an `f64`
/// (unless suffixed), `x as T` is a `T`, `.len()` is a `usize`, and arithmetic keeps the
/// type of its operands; a closure shows [`CLOSURE`], whose type cannot be written.
fn guess_type(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Closure(_) => Some(CLOSURE.into()),
        Expr::Lit(lit) => match &lit.lit {
            syn::Lit::Float(float) if float.suffix().is_empty() => Some("f64".into()),
            syn::Lit::Float(float) => Some(float.suffix().into()),
            syn::Lit::Int(int) if !int.suffix().is_empty() => Some(int.suffix().into()),
            syn::Lit::Bool(_) => Some("bool".into()),
            _ => None,
        },
        Expr::Cast(cast) => Some(cast.ty.to_token_stream().to_string()),
        Expr::MethodCall(call) if call.method == "len" || call.method == "count" => {
            Some("usize".into())
        }
        Expr::Paren(paren) => guess_type(&paren.expr),
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => guess_type(&unary.expr),
        Expr::Binary(binary) => guess_type(&binary.left).or_else(|| guess_type(&binary.right)),
        _ => None,
    }
}

/// The reference expression `body` ends in, if its value is written as one: `&x`, or a block
/// whose last expression is (`{ ...; &v[i] }`), through parentheses.
fn returned_reference(body: &Expr) -> Option<&syn::ExprReference> {
    match body {
        Expr::Reference(reference) => Some(reference),
        Expr::Paren(paren) => returned_reference(&paren.expr),
        Expr::Block(block) => match block.block.stmts.last() {
            Some(syn::Stmt::Expr(tail, None)) => returned_reference(tail),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsl(call: &str) -> Option<Dsl> {
        Dsl::of(&syn::parse_str::<Macro>(call).unwrap())
    }

    #[test]
    fn the_dsl_is_named_bare_or_through_the_project_crates() {
        assert!(dsl("reduce!(data, |part| 1.0)") == Some(Dsl::Reduce));
        assert!(dsl("asyncopt_runtime::broadcast!(w)") == Some(Dsl::Broadcast));
        assert!(dsl("::asyncopt_macros::barrier!(asp())") == Some(Dsl::Barrier));
    }

    #[test]
    fn a_foreign_macro_of_a_dsl_name_is_left_alone() {
        for call in [
            "m::reduce!(1, 2)",
            "crate::m::broadcast!(w)",
            "::reduce!(x)",
            "asyncopt_runtime::m::barrier!()",
        ] {
            assert!(dsl(call).is_none(), "{call}");
        }
    }

    #[test]
    fn only_the_dsl_is_found_among_another_macros_arguments() {
        let found = |tokens: &str| -> Vec<String> {
            nested_dsl(tokens.parse().unwrap())
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(found("\"{:?}\", m::reduce!(1, 2)"), Vec::<String>::new());
        assert_eq!(
            found("\"{:?}\", crate::m::reduce!(1, 2)"),
            Vec::<String>::new()
        );
        assert_eq!(found("\"{:?}\", reduce!(d, |p| 1.0)"), ["reduce"]);
        assert_eq!(
            found("\"{:?}\", (::asyncopt_runtime::reduce!(d, |p| 1.0))"),
            ["reduce"]
        );
    }
}
