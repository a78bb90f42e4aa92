//! A `reduce!` site: the checks of its closure and of the variables it uses, and its
//! expansion into a task for the workers and a call on the driver.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Expr, ExprClosure, Ident, Macro, Pat, Type};

use super::dsl::nested_dsl;
use super::types::{has_impl_trait, is_dataset, is_driver, is_history, unsized_owner, CLOSURE};
use super::{arguments_span, Dsl, Rewriter};
use crate::captures::{changed_variables, free_variables};
use crate::expand::{self, Capture, Read, Reduce, Source};
use crate::scope::{same, Binding, Origin};
use crate::sites::ReduceSite;

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

impl Rewriter<'_> {
    pub(super) fn rewrite_reduce(&mut self, mac: &Macro) -> Option<TokenStream> {
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
        if let Some(pending) = pending.as_ref().filter(|b| b.depth != self.blocks.len()) {
            // In a loop it would govern every pass's reduce!, though written once before them.
            let (inner, that) = if self.loops > pending.loops {
                ("a loop inside it (a `for`, `while` or `loop`)", "loop")
            } else {
                ("a block inside it", "block")
            };
            self.errors.at(
                &pending.site,
                format!(
                    "barrier! governs the next reduce! of its own block, and the next one is in \
                     {inner}: put the barrier! inside that {that}, just before the reduce! it governs"
                ),
            );
            return None;
        }
        let barrier = pending.map(|b| b.barrier);
        if let Some(block) = self.blocks.last_mut() {
            block.reduced = true;
        }
        let mut site = site?;
        self.refuse_dsl_in_closure(&site.closure)?;
        self.refuse_try_in_closure(&site.closure)?;
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
        if barrier.is_none() {
            self.refuse_unit_closure(&site.closure)?;
        }
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
        self.reduces += 1;
        let reduce = Reduce {
            driver: &self.driver,
            fn_name: &self.fn_name,
            source_hash: self.source_hash,
            index: self.reduces,
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

    /// A DSL site in the closure would reach the workers' copy unrewritten, where rustc
    /// reports it as a macro it cannot find. `None` after an error.
    fn refuse_dsl_in_closure(&mut self, closure: &ExprClosure) -> Option<()> {
        /// Each site's name, and the tokens its error spans.
        struct Sites(Vec<(Ident, TokenStream)>);
        impl<'ast> syn::visit::Visit<'ast> for Sites {
            fn visit_macro(&mut self, mac: &'ast Macro) {
                match (Dsl::of(mac), mac.path.segments.last()) {
                    (Some(_), Some(last)) => {
                        self.0.push((last.ident.clone(), mac.to_token_stream()))
                    }
                    _ => self.0.extend(
                        nested_dsl(mac.tokens.clone())
                            .into_iter()
                            .map(|name| (name.clone(), name.to_token_stream())),
                    ),
                }
            }

            fn visit_item(&mut self, _: &'ast syn::Item) {}
        }
        let mut sites = Sites(Vec::new());
        syn::visit::Visit::visit_expr(&mut sites, &closure.body);
        for (name, site) in &sites.0 {
            self.errors.at(
                site,
                format!(
                    "{name}! cannot be used inside a reduce! closure, which runs on the workers: \
                     write it in the training loop, before or after this reduce!"
                ),
            );
        }
        sites.0.is_empty().then_some(())
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
        if let Pat::Type(typed) = &site.closure.inputs[0] {
            let (right, what, other) = match Source::of(&site.data) {
                Source::All(_) => (
                    "Partition",
                    "one partition of the data",
                    "a `&Batch` for `data.sample(..)`",
                ),
                Source::Sampled { .. } => (
                    "Batch",
                    "the minibatch `data.sample(..)` draws",
                    "a `&Partition` for the whole data",
                ),
            };
            // A right name is left to rustc, which checks it against the real type.
            if !names_item(&typed.ty, right) {
                let (pat, ty) = (written(&typed.pat), written(&typed.ty));
                self.errors.at(
                    &typed.ty,
                    format!(
                        "the reduce! closure's argument is a `&{right}`, {what} ({other}), \
                         not a `{ty}`: write `|{pat}: &{right}|`, or leave it untyped, `|{pat}|`"
                    ),
                );
                return None;
            }
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

    /// A synchronous reduce! combines its results, and `()` is none to combine: a closure
    /// whose block ends in an expression statement returns it, most often because of a
    /// trailing `;`. Said at the `;`, rather than as a missing `Combine` for `()` and then a
    /// type error wherever the result is used. `None` after an error.
    fn refuse_unit_closure(&mut self, closure: &ExprClosure) -> Option<()> {
        let Expr::Block(block) = &*closure.body else {
            return Some(());
        };
        let Some(syn::Stmt::Expr(last, Some(semi))) = block.block.stmts.last() else {
            return Some(());
        };
        // These never end the closure with `()`: they leave it.
        if matches!(
            last,
            Expr::Return(_) | Expr::Break(_) | Expr::Continue(_) | Expr::Loop(_)
        ) {
            return Some(());
        }
        self.errors.at(
            semi,
            "this `;` makes the reduce! closure return `()`, and a synchronous reduce! \
             combines what its closure returns: remove the `;` to return the value of the \
             expression before it",
        );
        None
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
                if let Some(message) = reference_inside(&name, &declared) {
                    self.errors.at(&name, message);
                    failed = true;
                    continue;
                }
                let fields = fields_read(closure, &name);
                uses.captures.push(Capture {
                    name,
                    declared,
                    counter,
                    fields,
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
        if binding.origin == Origin::Driver || binding.ty.as_ref().is_some_and(is_driver) {
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
            Some(ty) => single_process(ty).map(|pointer| {
                (
                    format!(
                        "`{name}` is captured by a reduce! closure, and its type `{}` holds {} \
                         `{pointer}`, which is not Send: it lives in the driver's process alone and \
                         cannot travel to the workers; capture a plain value instead, what the \
                         `{pointer}` holds (`let {name}: f64 = ...;`)",
                        ty.to_token_stream().to_string().replace(' ', ""),
                        if pointer == "Rc" { "an" } else { "a" }
                    ),
                    true,
                )
            }),
        }
    }
}

/// The single-threaded shared pointer or cell (`Rc`, `RefCell`, `Cell`) a capture's written
/// type holds, anywhere in it (`Vec<Rc<f64>>`): named by the macro, where the compiler would
/// ask for serde impls the type can never have.
fn single_process(ty: &Type) -> Option<&'static str> {
    struct Find(Option<&'static str>);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_path_segment(&mut self, segment: &'ast syn::PathSegment) {
            for name in ["Rc", "RefCell", "Cell"] {
                if self.0.is_none() && segment.ident == name {
                    self.0 = Some(name);
                }
            }
            syn::visit::visit_path_segment(self, segment);
        }
    }
    let mut find = Find(None);
    syn::visit::Visit::visit_type(&mut find, ty);
    find.0
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

/// Whether a closure argument's written type is `_` or a shared reference to a type named
/// `item` (`&Partition`, `&asyncopt_runtime::data::Batch<'_>`).
fn names_item(ty: &Type, item: &str) -> bool {
    match ty {
        Type::Infer(_) => true,
        Type::Reference(reference) if reference.mutability.is_none() => match &*reference.elem {
            Type::Path(path) => path
                .path
                .segments
                .last()
                .is_some_and(|segment| segment.ident == item),
            _ => false,
        },
        _ => false,
    }
}

/// Tokens as an author writes them: `&String`, not `& String`; a space stays only between
/// two words (`&dyn Rows`).
fn written(tokens: &impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '\'');
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let between_words = word(out.chars().last()) && word(chars.get(i + 1).copied());
        if c != ' ' || between_words {
            out.push(c);
        }
    }
    out
}

/// Why a capture declared as `declared` cannot travel when a reference is inside it
/// (`Option<&Model>`): a top-level `&T` travels as a `T`, a reference within cannot, and
/// rustc would say so with the whole type, twice (the driver's copy and the worker's).
fn reference_inside(name: &Ident, declared: &Type) -> Option<String> {
    struct References(bool);
    impl<'ast> syn::visit::Visit<'ast> for References {
        fn visit_type_reference(&mut self, _: &'ast syn::TypeReference) {
            self.0 = true;
        }
    }
    let owned = match declared {
        Type::Reference(reference) => &*reference.elem,
        other => other,
    };
    let mut found = References(false);
    syn::visit::Visit::visit_type(&mut found, owned);
    if !found.0 {
        return None;
    }
    let text = super::type_text(owned);
    let instead = match owned {
        Type::Path(path)
            if path
                .path
                .segments
                .last()
                .is_some_and(|last| last.ident == "Option") =>
        {
            let inner = text
                .strip_prefix("Option<&")
                .and_then(|rest| rest.strip_suffix('>'))
                .map_or_else(|| "...".to_owned(), |inner| format!("Option<{inner}>"));
            format!(": `let {name}: {inner} = {name}.cloned();`")
        }
        _ => " (a clone of what it points to)".to_owned(),
    };
    Some(format!(
        "`{name}` is a `{text}`, which holds a reference, and a reduce! closure sends what it \
         captures to the workers, where no reference can point: capture an owned value, \
         declared before the training loop{instead}"
    ))
}

/// The named fields `closure` reads of `name`, if it uses `name` through them only
/// (`cfg.scale`); else none.
fn fields_read(closure: &ExprClosure, name: &Ident) -> Vec<Ident> {
    struct Fields<'a> {
        name: &'a Ident,
        fields: Vec<Ident>,
        whole: bool,
    }
    impl<'ast> syn::visit::Visit<'ast> for Fields<'_> {
        fn visit_expr(&mut self, expr: &'ast Expr) {
            match expr {
                Expr::Field(field) => match (&*field.base, &field.member) {
                    (Expr::Path(base), syn::Member::Named(member))
                        if base.path.get_ident().is_some_and(|b| same(b, self.name)) =>
                    {
                        if !self.fields.iter().any(|f| f == member) {
                            self.fields.push(member.clone());
                        }
                    }
                    _ => syn::visit::visit_expr(self, expr),
                },
                Expr::Path(path) if path.path.get_ident().is_some_and(|p| same(p, self.name)) => {
                    self.whole = true;
                }
                _ => syn::visit::visit_expr(self, expr),
            }
        }

        fn visit_macro(&mut self, mac: &'ast Macro) {
            // Its tokens may use the variable whole.
            self.whole |= crate::unchanged::mentions(mac.tokens.clone(), self.name);
        }
    }
    let mut fields = Fields {
        name,
        fields: Vec::new(),
        whole: false,
    };
    syn::visit::Visit::visit_expr(&mut fields, &closure.body);
    if fields.whole {
        Vec::new()
    } else {
        fields.fields
    }
}
