//! The walk over the optimizer's body: it tracks the variables in scope and the enclosing
//! loops, checks each DSL site against them, and replaces the site with its expansion.

mod closure_try;
mod driver_shadows;
mod dsl;
mod pinned_reads;
mod reduce_site;
mod rule_reads_driver;
mod types;
mod valued_breaks;
mod version_names;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, ToTokens};
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, Ident, Label, Lifetime, Macro, Stmt, Type};

use crate::errors::Errors;
use crate::expand;
use crate::scope::{same, Origin, Scopes};
use crate::sites::{BarrierSite, BroadcastSite};

pub use driver_shadows::refuse_driver_shadows;
use dsl::nested_dsl;
pub(crate) use dsl::{renamed_dsl, Dsl};
pub(crate) use types::type_text;
use types::{element_type, guess_type, is_dataset, is_enumerate};
use valued_breaks::ValuedBreaks;

/// A barrier waiting for the reduce it governs.
struct PendingBarrier {
    barrier: expand::Barrier,
    site: TokenStream,
    depth: usize,
    /// The branches (`if`, `match` arms, the right of `&&` and `||`) it stands in.
    branches: usize,
    /// The loops it stands in.
    loops: usize,
}

/// What the walk keeps per block: whether a reduce already ran in it.
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
    /// The function's hash as written, which each task registers.
    source_hash: u64,
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
    /// Of those, `async` blocks: code that runs where it is awaited, not where it stands.
    async_blocks: usize,
    /// The scope depth at which each closure being walked began: the names bound from there
    /// on are the closure's own, not variables of the function.
    closure_scopes: Vec<usize>,
    exit: Option<(Lifetime, bool)>,
    barrier: Option<PendingBarrier>,
    blocks: Vec<BlockState>,
    /// `barrier!` and `reduce!` sites so far: numbers the barriers' bindings.
    sites: usize,
    /// `reduce!` sites so far: the `#N` of a task's id, the N-th `reduce!` of its function.
    reduces: usize,
    /// Outermost loops entered so far: inside one, its number.
    loops_begun: usize,
    /// The branches being walked: `if` and `else` blocks, `match` arms, the right of `&&`
    /// and `||`, code that may or may not run.
    branches: usize,
}

impl<'a> Rewriter<'a> {
    /// The model observers watch and a checkpoint's judge reads: the returned variable if it
    /// is broadcast, else the first variable broadcast.
    pub fn model(&self) -> Option<&Ident> {
        self.model.as_ref().or(self.broadcast_vars.first())
    }

    pub fn new(
        fn_name: Ident,
        driver: Ident,
        model: Option<Ident>,
        broadcast_somewhere: Vec<Ident>,
        scopes: Scopes,
        source_hash: u64,
        errors: &'a mut Errors,
    ) -> Self {
        Rewriter {
            fn_name,
            source_hash,
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
            async_blocks: 0,
            closure_scopes: Vec::new(),
            exit: None,
            barrier: None,
            blocks: Vec::new(),
            sites: 0,
            reduces: 0,
            loops_begun: 0,
            branches: 0,
        }
    }

    /// Checks where a DSL macro stands; returns the label that leaves the training loop.
    fn placement(&mut self, mac: &Macro, name: &str) -> Option<Lifetime> {
        if self.closures > 0 {
            let inside = if self.async_blocks > 0 {
                "an `async` block"
            } else {
                "a closure"
            };
            self.errors.at(
                mac,
                format!(
                    "{name}! cannot be used inside {inside}, whose code #[async_optimizer] does not rewrite: \
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
                // Neither travels: rustc would report the driver's internals as not `Send`.
                let refusal = if binding.origin == Origin::Driver {
                    Some("is the driver, which stays in this process")
                } else if binding.ty.as_ref().is_some_and(is_dataset) {
                    Some("is a dataset, which the workers already hold by partitions: a reduce! reads it as its data argument")
                } else {
                    None
                };
                if let Some(refusal) = refusal {
                    let var = &site.var;
                    self.errors.at(
                        var,
                        format!(
                            "`{var}` {refusal}; broadcast! publishes a variable of the model, e.g. `broadcast!(w)`"
                        ),
                    );
                    return None;
                }
                // A borrowed value (a warm start passed as `&Model`) is not the driver's to
                // publish: rustc would suggest `&start`, and every closure reading it would
                // then see a `&&Model`.
                if let Some(ty @ Type::Reference(reference)) = &binding.ty {
                    let (var, owned) = (&site.var, types::type_text(&reference.elem));
                    let borrowed = types::type_text(ty);
                    self.errors.at(
                        var,
                        format!(
                            "broadcast! publishes a value the driver owns, and `{var}` is borrowed \
                             (a `{borrowed}`): broadcast an owned copy, declared before the training \
                             loop: `let {var}: {owned} = {var}.clone();`"
                        ),
                    );
                    return None;
                }
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
                // Said, and the barrier kept: its reduce! is still the one it governs.
                self.refuse_driver_in_rule(&site.rule);
                if let Some(select) = &site.select {
                    self.refuse_driver_in_rule(select);
                }
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
                    loops: self.loops,
                });
                Some(tokens)
            }
            Dsl::Reduce => self.rewrite_reduce(mac),
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

    /// A `macro_rules!` of a DSL name in the function: its bare calls would be rewritten as
    /// the DSL's, not expanded as it says.
    fn refuse_local_dsl_macro(&mut self, item: &syn::ItemMacro) {
        let Some(name) = &item.ident else { return };
        if ["broadcast", "barrier", "reduce"].iter().any(|n| name == n) {
            self.errors.at(
                name,
                format!(
                    "#[async_optimizer] rewrites every bare {name}! in this function as its own, so a \
                     macro of that name here would never run: give it another name"
                ),
            );
        }
    }

    /// A DSL macro imported under another name, which the attribute would not read.
    fn refuse_renamed(&mut self, item: &syn::ItemUse) {
        for rename in dsl::renamed_dsl(item) {
            let (name, alias) = (&rename.ident, &rename.rename);
            self.errors.at(
                rename,
                format!(
                    "#[async_optimizer] reads {name}! by its own name, not as `{alias}!`: \
                     import it without renaming and write `{name}!(...)`"
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
        let last = block.stmts.len().saturating_sub(1);
        for (at, stmt) in block.stmts.iter_mut().enumerate() {
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
                        // `{ reduce! { .. } }` without `;`: the block's value is the result.
                        let tail = at == last && stmt_mac.semi_token.is_none();
                        if let Some(tokens) = expanded {
                            let tokens = if tail { tokens } else { wrap(tokens, dsl) };
                            *stmt = Stmt::Expr(Expr::Verbatim(tokens), None);
                        } else {
                            *stmt = Stmt::Expr(Expr::Verbatim(TokenStream::new()), None);
                        }
                    }
                }
                Stmt::Item(syn::Item::Use(item)) => self.refuse_renamed(item),
                Stmt::Item(syn::Item::Macro(item)) => self.refuse_local_dsl_macro(item),
                Stmt::Item(_) => {}
                Stmt::Expr(expr, _) => self.visit_expr_mut(expr),
            }
        }
        self.close_block();
        self.scopes.pop();
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        self.refuse_await_on_dsl(expr);
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
            self.refuse_unknown_version_name(call);
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
        self.closure_scopes.push(self.scopes.depth());
        self.scopes.push();
        for input in &closure.inputs {
            self.scopes.bind_pattern(input, None);
        }
        self.visit_expr_mut(&mut closure.body);
        self.scopes.pop();
        self.closure_scopes.pop();
        self.closures -= 1;
    }

    fn visit_expr_async_mut(&mut self, async_block: &mut syn::ExprAsync) {
        // Its code runs when it is awaited: a broadcast! there could not leave the loop.
        self.closures += 1;
        self.async_blocks += 1;
        self.visit_block_mut(&mut async_block.block);
        self.async_blocks -= 1;
        self.closures -= 1;
    }

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {
        // Nested items are not part of the loop.
    }
}

impl Rewriter<'_> {
    /// `reduce!(..).await`: the macros block until their result is in hand, so an author used
    /// to async Rust is told to drop the `.await` instead of getting rustc's "only allowed
    /// inside `async` functions" and type errors about the rewritten call.
    fn refuse_await_on_dsl(&mut self, expr: &mut Expr) {
        let Expr::Await(awaited) = expr else { return };
        let Expr::Macro(expr_mac) = &*awaited.base else {
            return;
        };
        let Some(dsl) = Dsl::of(&expr_mac.mac) else {
            return;
        };
        let name = match dsl {
            Dsl::Reduce => "reduce",
            Dsl::Broadcast => "broadcast",
            Dsl::Barrier => "barrier",
        };
        let (dot, await_token) = (awaited.dot_token, awaited.await_token);
        self.errors.at(
            quote::quote!(#dot #await_token),
            format!(
                "{name}! is not a future: it returns when its result is in hand (the runtime \
                 handles the asynchrony): remove `.await`"
            ),
        );
        *expr = (*awaited.base).clone();
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
