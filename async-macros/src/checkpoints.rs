//! Checkpoints of the training loop. Its variables are every `mut` binding of a `let` the
//! function's body declares before the loop (`let (mut m, mut v) = ...` binds two), but for
//! a `let` marked `#[transient]` (a timer, say, which a resumed run starts anew): at the top of each pass they are saved when the driver asks for a
//! checkpoint, and before the loop they are restored when the run resumes one. A `for` loop then
//! skips the passes already done, so `k` goes on from where the saved run stopped. Where a `for`
//! loop runs out or a `while` loop's condition fails, its last state is saved too, so that a
//! run given more passes goes on from its end. For that both become a `loop` whose head sees
//! the state of every pass boundary, the last included (after the loop a variable may have
//! been moved). A `loop` has no such end: only its periodic checkpoints are taken.

use quote::{format_ident, quote, quote_spanned};
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, Ident, Lifetime, Stmt};

use crate::scope::pattern_bindings;

/// The attribute of a `let` before the training loop whose variables a checkpoint skips.
const TRANSIENT: &str = "transient";

/// Instruments the training loop labeled `label` when it is a statement of `block`, the
/// function's body; a loop nested deeper is left as it is (its run cannot be resumed).
/// `model`: the name of the variable a checkpoint's judge reads, told to the driver once.
/// The variables a resumed run restores.
pub fn instrument(
    block: &mut Block,
    label: &Lifetime,
    optimizer: &Ident,
    driver: &Ident,
    model: Option<&str>,
) -> Vec<Ident> {
    let transient = take_transient_marks(block);
    // The loop becomes tokens that are not walked again: its nested marks go now.
    strip_transient(block);
    let Some(index) = block
        .stmts
        .iter()
        .position(|stmt| loop_label(stmt) == Some(label))
    else {
        return Vec::new();
    };
    let (vars, conditions): (Vec<Ident>, Vec<Vec<syn::Attribute>>) =
        saved_variables(&block.stmts[..index], &transient)
            .into_iter()
            .unzip();
    let runtime = quote!(::asyncopt_runtime::__private);
    let id = quote!(::core::concat!(
        ::core::module_path!(),
        "::",
        ::core::stringify!(#optimizer)
    ));
    // Where the function's name stands: two optimizers of one name in one module (each
    // inside a function of its own) are told apart by it (`checkpoint_id`).
    let at = {
        let (line, column) = (
            quote_spanned!(optimizer.span()=> ::core::line!()),
            quote_spanned!(optimizer.span()=> ::core::column!()),
        );
        quote!(::core::concat!(#line, ":", #column))
    };
    let model = match model {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    let checkpoint_id = format_ident!("__async_checkpoint_id");
    let resumed = format_ident!("__async_resumed");
    let pass = format_ident!("__async_pass");
    let names = vars.iter().map(crate::expand::variable_name);
    let restore: Stmt = syn::parse_quote! {
        if let ::core::option::Option::Some(__async_from) = &#resumed {
            #[allow(unused_imports)]
            use #runtime::{RestoreDeserialize as _, RestoreOpaque as _};
            #( #(#conditions)* (&mut #runtime::RestoreSlot(&mut #vars)).restore_from(#driver, __async_from, #names); )*
        }
    };
    let names = vars.iter().map(crate::expand::variable_name);
    // What a checkpoint saves: every loop variable, by name.
    let gather = quote! {
        |__async_state| {
            #[allow(unused_imports)]
            use #runtime::{SaveOpaque as _, SaveSerialize as _};
            #( #(#conditions)* (&#runtime::StateSlot(&#vars)).save_into(__async_state, #names); )*
        }
    };
    let save: Stmt = syn::parse_quote! {
        #runtime::checkpoint(#driver, &#checkpoint_id, &mut #pass, #gather);
    };
    let save_at_end: Stmt = syn::parse_quote! {
        #runtime::checkpoint_at_end(#driver, &#checkpoint_id, #pass, #gather);
    };
    let Stmt::Expr(training_loop, _) = &mut block.stmts[index] else {
        unreachable!("loop_label found a loop expression")
    };
    match training_loop {
        Expr::ForLoop(for_loop) => {
            let (attrs, pat, iterable) = (&for_loop.attrs, &for_loop.pat, &for_loop.expr);
            let body = &for_loop.body.stmts;
            // Tokens, not parsed again: the loop holds the DSL sites' expansions, and syn
            // need not read every type an author's captures have as rustc does.
            let replacement = Expr::Verbatim(quote! {
                {
                    let mut __async_iterations = ::core::iter::Iterator::skip(
                        ::core::iter::IntoIterator::into_iter(#iterable),
                        #runtime::Resumed::skip(&#resumed),
                    );
                    #(#attrs)*
                    #label: loop {
                        let #pat = match ::core::iter::Iterator::next(&mut __async_iterations) {
                            ::core::option::Option::Some(__async_item) => __async_item,
                            ::core::option::Option::None => {
                                #save_at_end
                                break #label;
                            }
                        };
                        #save
                        #(#body)*
                    };
                }
            });
            *training_loop = replacement;
        }
        Expr::While(while_loop) => {
            // `while cond { body }` as `loop { if cond { body } else { end } }`: `if` takes the
            // same conditions, `let` ones included, and its `else` is the loop's natural end.
            let (attrs, cond) = (&while_loop.attrs, &while_loop.cond);
            let body = &while_loop.body.stmts;
            let replacement = Expr::Verbatim(quote! {
                #(#attrs)*
                #label: loop {
                    if #cond {
                        #save
                        #(#body)*
                    } else {
                        #save_at_end
                        break #label;
                    }
                }
            });
            *training_loop = replacement;
        }
        Expr::Loop(loop_expr) => loop_expr.body.stmts.insert(0, save),
        _ => unreachable!("loop_label found a loop expression"),
    }
    // However the loop is left, the driver hears it: what follows (a one-off reduce!, the
    // loop of another optimizer on the same driver) is no pass of it.
    let left = Expr::Verbatim(quote! {
        {
            let __async_out = #training_loop;
            #runtime::loop_left(#driver);
            __async_out
        }
    });
    *training_loop = left;
    let prologue: Vec<Stmt> = syn::parse_quote! {
        #runtime::inventory::submit! { #runtime::OptimizerEntry::new(#id) }
        let #checkpoint_id = #runtime::checkpoint_id(#id, #at);
        let #resumed = #runtime::resume(#driver, &#checkpoint_id, #model);
        #restore
        let mut #pass: u64 = #resumed.as_ref().map_or(0, #runtime::Resumed::iteration);
    };
    block.stmts.splice(index..index, prologue);
    vars
}

/// Removes `#[transient]` from each `let` of `block`: state a resumed run starts anew (a
/// timer, a handle), not saved. Per statement, whether it was so marked.
fn take_transient_marks(block: &mut Block) -> Vec<bool> {
    block
        .stmts
        .iter_mut()
        .map(|stmt| match stmt {
            Stmt::Local(local) => {
                let before = local.attrs.len();
                local.attrs.retain(|attr| !attr.path().is_ident(TRANSIENT));
                local.attrs.len() < before
            }
            _ => false,
        })
        .collect()
}

/// The variables a checkpoint saves: the mutable values declared by the statements before
/// the training loop, less the transient ones, each by its last declaration, with the `#[cfg]`
/// attributes of its `let` (its saving and restoring exist where the variable does).
fn saved_variables(before_loop: &[Stmt], transient: &[bool]) -> Vec<(Ident, Vec<syn::Attribute>)> {
    let mut vars: Vec<(Ident, Vec<syn::Attribute>)> = Vec::new();
    for (stmt, &transient) in before_loop.iter().zip(transient) {
        let Stmt::Local(local) = stmt else {
            continue;
        };
        let conditions: Vec<syn::Attribute> = local
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("cfg"))
            .cloned()
            .collect();
        // Every binding, in a tuple or struct pattern too (`let (mut m, mut v) = ...`).
        for binding in pattern_bindings(&local.pat) {
            // A shadowed variable is no longer the loop's: keep the last declaration, if it
            // is a mutable value (`mut x`, not `ref mut x`). A conditional one shadows only
            // where its condition holds: the earlier stays, and is saved (under the same name)
            // wherever the later one is not.
            let var = &binding.ident;
            if conditions.is_empty() {
                vars.retain(|(v, _)| !crate::scope::same(v, var));
            }
            if binding.mutability.is_some() && binding.by_ref.is_none() && !transient {
                vars.push((var.clone(), conditions.clone()));
            }
        }
    }
    vars
}

/// The variables of the training loop labeled `label` (a statement of `block`) that are
/// declared without a value and never assigned before it (`let mut best: f64;`, assigned in
/// the loop): a checkpoint saves them at the top of the first pass, where they have none.
/// Each comes with its declared type, if the `let` wrote one.
pub fn uninitialized(block: &Block, label: &Lifetime) -> Vec<(Ident, Option<syn::Type>)> {
    let Some(index) = block
        .stmts
        .iter()
        .position(|stmt| loop_label(stmt) == Some(label))
    else {
        return Vec::new();
    };
    let before = &block.stmts[..index];
    let mut found = Vec::new();
    for (at, stmt) in before.iter().enumerate() {
        let Stmt::Local(local) = stmt else {
            continue;
        };
        if local.init.is_some() || local.attrs.iter().any(|a| a.path().is_ident(TRANSIENT)) {
            continue;
        }
        let declared = match &local.pat {
            syn::Pat::Type(typed) => Some((*typed.ty).clone()),
            _ => None,
        };
        for binding in pattern_bindings(&local.pat) {
            let var = &binding.ident;
            if binding.mutability.is_none() || binding.by_ref.is_some() {
                continue;
            }
            let mut later = Assigned {
                var,
                assigned: false,
                shadowed: false,
            };
            for stmt in &before[at + 1..] {
                syn::visit::Visit::visit_stmt(&mut later, stmt);
            }
            if !later.assigned && !later.shadowed {
                found.push((var.clone(), declared.clone()));
            }
        }
    }
    found
}

/// Whether statements assign to `var` anywhere (in a branch, a closure: any may give it its
/// value), or declare it anew at their own level.
struct Assigned<'v> {
    var: &'v Ident,
    assigned: bool,
    shadowed: bool,
}

impl<'ast> syn::visit::Visit<'ast> for Assigned<'_> {
    fn visit_expr_assign(&mut self, assign: &'ast syn::ExprAssign) {
        if let Expr::Path(path) = &*assign.left {
            self.assigned |= path.path.is_ident(self.var);
        }
        syn::visit::visit_expr_assign(self, assign);
    }

    fn visit_stmt(&mut self, stmt: &'ast Stmt) {
        if let Stmt::Local(local) = stmt {
            self.shadowed |= pattern_bindings(&local.pat)
                .iter()
                .any(|b| b.ident == *self.var);
        }
        syn::visit::visit_stmt(self, stmt);
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// Removes `#[transient]` from every `let` of `block`, nested ones included: the attribute is
/// the macro's, which rustc does not know.
pub fn strip_transient(block: &mut Block) {
    struct Strip;
    impl VisitMut for Strip {
        fn visit_local_mut(&mut self, local: &mut syn::Local) {
            local.attrs.retain(|attr| !attr.path().is_ident(TRANSIENT));
            visit_mut::visit_local_mut(self, local);
        }
    }
    Strip.visit_block_mut(block);
}

/// The label of a loop statement.
fn loop_label(stmt: &Stmt) -> Option<&Lifetime> {
    let Stmt::Expr(expr, _) = stmt else {
        return None;
    };
    let label = match expr {
        Expr::ForLoop(e) => &e.label,
        Expr::While(e) => &e.label,
        Expr::Loop(e) => &e.label,
        _ => return None,
    };
    label.as_ref().map(|l| &l.name)
}
