//! What the DSL sites become: short calls into `asyncopt_runtime::__private`, plus one worker
//! function per `reduce!` site, registered under a stable id.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, ExprClosure, Ident, Lifetime, Pat, Type};

/// A value a `reduce!` closure captures.
pub struct Capture {
    /// The name, with the span of its use in the closure.
    pub name: Ident,
    /// The type the closure sees, as declared.
    pub declared: Type,
    /// A range `for` counter, whose type the macro takes to be `usize` and checks.
    pub counter: bool,
    /// The named fields the closure reads, when it uses the variable through them only
    /// (`cfg.scale`): the whole value travels, where the fields alone might.
    pub fields: Vec<Ident>,
}

impl Capture {
    /// The type that travels: a declared `&T` travels as `T`.
    fn owned(&self) -> &Type {
        match &self.declared {
            Type::Reference(reference) => &reference.elem,
            other => other,
        }
    }

    fn is_ref(&self) -> bool {
        matches!(self.declared, Type::Reference(_))
    }
}

/// A broadcast variable a `reduce!` closure reads from the worker's version cache.
pub struct Read {
    /// The name the closure's body uses: the variable's, or for a pinned read the binding
    /// that replaced `w.at(v)`.
    pub name: Ident,
    /// The broadcast variable.
    pub var: Ident,
    pub ty: Type,
    /// The variable in its `broadcast!`, where errors about its type point.
    pub site: Span,
    /// For `w.at(v)`: the version, evaluated on the driver.
    pub at: Option<Expr>,
}

/// What a `reduce!` runs on.
pub enum Source<'a> {
    /// `reduce!(data, |part| ...)`: whole partitions.
    All(&'a Expr),
    /// `reduce!(data.sample(batch, k), |batch| ...)`: a minibatch of each partition.
    Sampled {
        data: &'a Expr,
        batch: &'a Expr,
        k: &'a Expr,
    },
}

impl<'a> Source<'a> {
    /// `data.sample(batch, k)` is a minibatch; any other expression, whole partitions.
    pub fn of(data: &'a Expr) -> Self {
        match data {
            Expr::MethodCall(call) if call.method == "sample" && call.args.len() == 2 => {
                Source::Sampled {
                    data: &call.receiver,
                    batch: &call.args[0],
                    k: &call.args[1],
                }
            }
            data => Source::All(data),
        }
    }

    /// The dataset the partitions come from.
    pub fn data(&self) -> &'a Expr {
        match self {
            Source::All(data) | Source::Sampled { data, .. } => data,
        }
    }
}

/// Everything known about one `reduce!` site.
pub struct Reduce<'a> {
    pub driver: &'a Ident,
    pub fn_name: &'a Ident,
    /// The function's hash as written: registered beside the id, so that the build
    /// fingerprint tells a changed closure on the same lines from the original.
    pub source_hash: u64,
    /// Its place among the function's `reduce!` sites, from 1: the `#N` of its task id.
    pub index: usize,
    pub source: Source<'a>,
    pub closure: &'a ExprClosure,
    pub captures: Vec<Capture>,
    pub reads: Vec<Read>,
    /// History tables the closure reads: each task carries only its rows' entries.
    pub histories: Vec<Ident>,
    /// The imports of the blocks around the site (not the function's body, whose the task
    /// sees), outermost first: the task's copy of the closure is compiled outside them.
    pub uses: Vec<Vec<syn::ItemUse>>,
    pub barrier: Option<Barrier>,
    pub max_staleness: Option<&'a Expr>,
    /// `collect = all`: a drain.
    pub collect: bool,
    /// The training loop to leave when the run stops; `None` for a one-off reduce outside it.
    pub exit: Option<&'a Lifetime>,
    /// Where errors about the site as a whole point (what travels, what comes back).
    pub span: Span,
    /// The `reduce` of `reduce!(..)`: its file and line end the task's id, which the run's
    /// errors name, so that they point at the site rather than at its function.
    pub at: Span,
}

/// Items every optimizer with a `reduce!` shares, at the top of its body: a check that a
/// closure's result can travel (the same on driver and worker, so that rustc reports a failure
/// once) and, if a closure captures a range counter, a check that it is a `usize`.
pub fn helpers(counter_captured: bool) -> TokenStream {
    let private = private();
    let counter = counter_captured.then(|| {
        quote! {
            #[diagnostic::on_unimplemented(
                message = "a reduce! closure captures this `for` loop counter as a `usize`, but it is a `{Self}`",
                label = "a `{Self}` counter",
                note = "loop over a `usize` range, or bind the counter with its type before the reduce!, e.g. `let i: {Self} = i;`"
            )]
            trait __AsyncCounter {}
            impl __AsyncCounter for usize {}
            fn __async_counter<T: __AsyncCounter>(_: &T) {}
        }
    });
    quote! {
        #[allow(dead_code)]
        fn __async_outcome<P, X, R, F>(task: F) -> F
        where
            R: #private::Outcome,
            F: ::core::ops::FnOnce(P, X) -> R,
        {
            task
        }
        #counter
    }
}

/// A variable of the expansion's own, at `at`: named `__async_...`, so that it neither hides
/// nor is hidden by a variable of the author's (a capture named `task`, a dataset `captures`).
/// Not a mixed-site span: rustc reports an error of an expression such a variable begins at
/// the macro's attribute then, and no longer drops it as the one already reported at the site.
fn internal(name: &str, at: Span) -> Ident {
    Ident::new(&format!("__async_{name}"), at)
}

fn private() -> TokenStream {
    quote!(::asyncopt_runtime::__private)
}

/// `callee(arg)`, spanned from the argument's first token to its last: rustc reports an
/// argument of the wrong type on the whole call, which then underlines exactly the user's
/// argument.
fn call_over(callee: TokenStream, arg: TokenStream) -> TokenStream {
    let mut tokens = arg.clone().into_iter();
    let first = tokens.next().map_or_else(Span::call_site, |t| t.span());
    let last = tokens.last().map_or(first, |t| t.span());
    let callee: TokenStream = callee
        .into_iter()
        .map(|mut token| {
            token.set_span(first);
            token
        })
        .collect();
    let mut group = Group::new(Delimiter::Parenthesis, arg);
    group.set_span(last);
    quote!(#callee #group)
}

/// `Some(bound)` for `max_staleness = bound`. An unsuffixed integer literal is a `u64` (left to
/// inference, it would fall back to `i32`, which is no bound).
fn some_bound(bound: &Expr) -> TokenStream {
    let tokens = match bound {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) if int.suffix().is_empty() => {
            syn::LitInt::new(&format!("{}u64", int.base10_digits()), int.span()).to_token_stream()
        }
        _ => bound.to_token_stream(),
    };
    call_over(quote!(::core::option::Option::Some), tokens)
}

fn private_at(span: Span) -> TokenStream {
    quote_spanned!(span=> ::asyncopt_runtime::__private)
}

/// The name a variable's versions go by, as the author reads them (`cx.version("type")` for
/// `r#type`) and a checkpoint lists them.
pub fn variable_name(var: &Ident) -> String {
    var.unraw().to_string()
}

/// `broadcast!(w)`: publish, and leave the training loop when a stop rule fired.
pub fn broadcast(driver: &Ident, var: &Ident, is_model: bool, exit: &Lifetime) -> TokenStream {
    let private = private_at(var.span());
    let name = variable_name(var);
    quote_spanned! {var.span()=>
        if #private::broadcast(#driver, #name, &#var, #is_model) {
            break #exit;
        }
    }
}

/// A `barrier!` site: the variable that keeps its rule for the next reduce.
pub struct Barrier {
    pub binding: Ident,
    /// The macro's `(rule)`. Where the rule is checked and where the reduce uses it, the rule
    /// is an expression of this span, so that rustc reports a rule that is no rule once, there.
    pub span: Span,
}

impl Barrier {
    /// The variable, as an expression at the rule's span.
    fn binding_at_rule(&self) -> Ident {
        Ident::new(&self.binding.to_string(), self.span)
    }
}

/// `barrier!(rule)`: the rule is evaluated where it is written and kept for the next reduce;
/// `barrier!(rule, select = pred)` adds the selection.
pub fn barrier(barrier: &Barrier, rule: &Expr, select: Option<&Expr>) -> TokenStream {
    let private = private_at(barrier.span);
    let binding = &barrier.binding;
    // In the macro's own parentheses, the rule is an expression of the barrier's span.
    let mut rule = Group::new(Delimiter::Parenthesis, rule.to_token_stream());
    rule.set_span(barrier.span);
    let select = select.map(|select| {
        let span = select.span();
        // A closure of two parameters reads the whole table beside the worker's row.
        let (wrap, method) = match select {
            Expr::Closure(closure) if closure.inputs.len() == 2 => (
                quote!(#private::selection_in_table),
                quote!(select_in_table),
            ),
            _ => (quote!(#private::selection), quote!(select)),
        };
        let boxed = call_over(quote!(Box::new), select.to_token_stream());
        let selection = call_over(wrap, boxed);
        let call = call_over(method, selection);
        quote_spanned!(span=> .#call)
    });
    let call = quote_spanned!(barrier.span=> #private::barrier(#rule) #select);
    quote! {
        #[allow(unused_parens)]
        let #binding = #call;
    }
}

impl Reduce<'_> {
    fn task_id_const(&self) -> Ident {
        format_ident!("__ASYNC_TASK_{}", self.index)
    }

    fn task_fn(&self) -> Ident {
        format_ident!("__async_task_{}", self.index)
    }

    /// The closure with its parameters typed: the partition, then the captured and read
    /// values as one tuple. Driver and worker type-check this same expression.
    fn typed_closure(&self) -> TokenStream {
        let private = private();
        let item = match self.source {
            Source::All(_) => quote!(&#private::Partition),
            Source::Sampled { .. } => quote!(&#private::Batch<'_>),
        };
        let part = match self.closure.inputs.first() {
            Some(Pat::Type(typed)) => typed.pat.as_ref().clone(),
            Some(pat) => pat.clone(),
            None => syn::parse_quote!(_),
        };
        let names = self
            .captures
            .iter()
            .map(|c| &c.name)
            .chain(self.reads.iter().map(|r| &r.name))
            .chain(&self.histories);
        let types = self
            .captures
            .iter()
            .map(|c| c.declared.clone())
            .chain(self.reads.iter().map(|r| -> Type {
                let mut reference = reference_to(r.ty.clone());
                if let Type::Reference(reference) = &mut reference {
                    reference.and_token.span = r.ty.span();
                }
                reference
            }))
            .chain(
                self.histories
                    .iter()
                    .map(|_| -> Type { syn::parse_quote!(&#private::HistorySlice) }),
            );
        let (output, body) = (&self.closure.output, &self.closure.body);
        quote! {
            |#part: #item, (#(#names,)*): (#(#types,)*)| #output #body
        }
    }

    /// The type written on the closure's argument, if any, checked against the one it is
    /// given at its own span: the workers' copy of the closure is typed by the macro.
    fn argument_check(&self) -> TokenStream {
        let Some(Pat::Type(typed)) = self.closure.inputs.first() else {
            return TokenStream::new();
        };
        let private = private();
        let item = match self.source {
            Source::All(_) => quote!(&#private::Partition),
            Source::Sampled { .. } => quote!(&#private::Batch<'_>),
        };
        let ty = &typed.ty;
        quote_spanned! {ty.span()=>
            let _ = |__async_argument: #item| { let _: #ty = __async_argument; };
        }
    }

    /// The closure, bound to a variable of its own before any bound on its result applies:
    /// its result type is then what its body makes it, as in plain Rust. A body with a type
    /// error (an `if` whose branches differ) makes it rustc's error type, and what uses the
    /// reduce!'s value is not checked again; passed straight to a function whose bound names
    /// the result, it would be left open, and inferred from those uses instead (a `&g` for an
    /// array, and then errors of an unsized array type).
    fn bind_task(&self) -> (Ident, TokenStream) {
        let task = internal("task", self.span);
        let closure = self.typed_closure();
        let bind = quote_spanned! {self.span=> let #task = #closure; };
        (task, bind)
    }

    /// The checks that the closure's captures can travel, identical on driver and worker and at
    /// the site's span: rustc reports a capture that cannot travel with the `Capture` message
    /// (once, whichever serde traits it lacks), and drops the same failures of the encoding and
    /// decoding bounds that follow because they are at the same span. At the capture's own
    /// span those would be reported again, with serde's raw messages.
    fn travel_checks(&self) -> TokenStream {
        let span = self.span;
        let checks = self.captures.iter().enumerate().map(|(i, c)| {
            let owned = c.owned();
            let check = self.capture_check(i);
            quote_spanned! {span=>
                let _ = |__async_value: &#owned| #check(__async_value);
            }
        });
        quote_spanned! {span=> #(#checks)* }
    }

    fn capture_check(&self, capture: usize) -> Ident {
        Ident::new(
            &format!("__async_capture_{}_{}", self.index, capture),
            self.span,
        )
    }

    /// For each capture, a trait of its own that says which variable cannot travel and what to
    /// write instead, and the function that checks it (`travel_checks`). Declared once, beside
    /// the task, so that the driver's check and the worker's are one error. The trait extends
    /// `Capture`: rustc then drops, as implied by it, the failures of the encoding and
    /// decoding bounds at the same span.
    fn capture_traits(&self) -> TokenStream {
        let private = private();
        let traits = self.captures.iter().enumerate().map(|(i, c)| {
            let check = self.capture_check(i);
            let name = c.name.unraw();
            let bound = format_ident!("__AsyncCapture_{}_{}", self.index, i);
            let message = format!(
                "`{name}` is captured by this reduce! closure, and its type `{{Self}}` cannot \
                 travel to the workers"
            );
            let label = format!("`{name}` is captured here: it is sent with every task");
            let notes = capture_advice(c);
            quote! {
                #[diagnostic::on_unimplemented(
                    message = #message,
                    label = #label,
                    #(note = #notes,)*
                )]
                #[allow(non_camel_case_types)]
                trait #bound: #private::Capture {}
                #[diagnostic::do_not_recommend]
                impl<T: #private::Capture> #bound for T {}
                #[allow(dead_code)]
                fn #check<T: #bound>(_: &T) {}
            }
        });
        quote!(#(#traits)*)
    }

    /// The expression that replaces `reduce!(..)` in the driver's loop.
    pub fn call(&self) -> TokenStream {
        let span = self.span;
        let private = private_at(span);
        let driver = self.driver;
        let source = match self.source {
            Source::All(data) => quote!(#private::Source::all(#data)),
            Source::Sampled { data, batch, k } => {
                quote!(#private::Source::sampled(#data, #batch, #k))
            }
        };
        let histories = self.histories.iter().map(|name| {
            quote_spanned! {name.span()=> #private::history(&#name) }
        });
        let id = self.task_id_const();
        let exit = self.exit;
        let captures = self.captures.iter().map(|c| {
            let name = &c.name;
            quote_spanned! {name.span()=> &#name }
        });
        let owned = self.captures.iter().map(|c| -> Type {
            if c.counter {
                // Checked by `__async_counter` below, with a message that says what to write.
                syn::parse_quote!(_)
            } else {
                c.owned().clone()
            }
        });
        let counter_checks = self.captures.iter().filter(|c| c.counter).map(|c| {
            let name = &c.name;
            quote_spanned! {name.span()=> __async_counter(&#name); }
        });
        let read_specs = self.reads.iter().map(|r| {
            let var = variable_name(&r.var);
            match &r.at {
                None => quote!(#private::read(#var)),
                Some(version) => {
                    // Spanned at the version, where a version of the wrong type is reported.
                    let var = syn::LitStr::new(&var, version.span());
                    call_over(quote!(#private::read_at), quote!(#var, #version))
                }
            }
        });
        let read_checks = self.reads.iter().map(|r| {
            let (var, ty) = (&r.var, &r.ty);
            quote_spanned! {var.span()=> let _: &#ty = &#var; }
        });
        let checks = self.travel_checks();
        let argument_check = self.argument_check();
        let (task, bind_task) = self.bind_task();
        let (captured, reads, result) = (
            internal("captures", span),
            internal("reads", span),
            internal("result", span),
        );
        // Outside any loop (an initial full gradient, a final evaluation): no update.
        let one_off = exit.is_none();
        let site = quote_spanned! {span=>
            #private::Site {
                source: #source,
                task: #id,
                captures: &#captured,
                reads: #reads,
                histories: &[#(#histories),*],
                one_off: #one_off,
            }
        };
        let call = match (&self.barrier, self.max_staleness) {
            (None, _) => quote_spanned! {span=>
                #private::reduce_sync(#driver, #site, __async_outcome(#task))
            },
            (Some(barrier), bound) => {
                // `&rule` wholly at the rule's span: rustc reports a rule that is no rule once.
                let barrier = {
                    let binding = barrier.binding_at_rule();
                    quote_spanned!(barrier.span=> &#binding)
                };
                let bound = match bound {
                    Some(bound) => some_bound(bound),
                    None => quote!(::core::option::Option::<#private::NoBound>::None),
                };
                let reduce = if self.collect {
                    quote_spanned!(span=> reduce_drain)
                } else {
                    quote_spanned!(span=> reduce_async)
                };
                quote_spanned! {span=>
                    #private::#reduce(#driver, #site, #barrier, #bound, __async_outcome(#task))
                }
            }
        };
        let prelude = quote_spanned! {span=>
            #bind_task
            #(#read_checks)*
            #checks
            #argument_check
            #(#counter_checks)*
            let #captured: (#(&#owned,)*) = (#(#captures,)*);
            let #reads: &[#private::ReadSpec] = &[#(#read_specs),*];
        };
        // When the run stops: leave the training loop, or, outside it, go on with a default
        // value until the training loop's first call leaves it (the run reports why). A
        // `let ... else` of the expansion's own rather than a `match`: in the author's
        // `let g = reduce!(..)`, clippy's `manual_let_else` would ask for a rewrite of code
        // the author never wrote.
        match exit {
            Some(exit) => quote_spanned! {span=>
                {
                    #prelude
                    let ::core::option::Option::Some(#result) = #call else {
                        break #exit;
                    };
                    #result
                }
            },
            None => quote_spanned! {span=>
                match { #prelude #call } {
                    ::core::option::Option::Some(#result) => #result,
                    ::core::option::Option::None => #private::one_off_stopped(),
                }
            },
        }
    }

    /// The worker function of this site and its registration.
    pub fn task(&self) -> TokenStream {
        let private = private();
        let id = self.task_id_const();
        let task_fn = self.task_fn();
        let id_text = format!("{}#{}", self.fn_name, self.index);
        // The line and column of the function's name tell apart two optimizers of one name in
        // one module (each inside a function of its own, as tests declare them): `module_path!`
        // names no function, and one id for both would run one's closure for the other.
        let (line, column) = (
            quote_spanned!(self.fn_name.span()=> ::core::line!()),
            quote_spanned!(self.fn_name.span()=> ::core::column!()),
        );
        // Where the site itself is, for the errors that name the task (the line above is the
        // function's).
        let (site_file, site_line) = (
            quote_spanned!(self.at=> ::core::file!()),
            quote_spanned!(self.at=> ::core::line!()),
        );
        // The task's context, at the span of each expression it begins.
        let tcx = |at: Span| internal("tcx", at);
        let names: Vec<&Ident> = self.captures.iter().map(|c| &c.name).collect();
        let owned = self.captures.iter().map(Capture::owned);
        let passed = self.captures.iter().map(|c| {
            let name = &c.name;
            if c.is_ref() {
                quote!(&#name)
            } else {
                quote!(#name)
            }
        });
        let reads = self.reads.iter().enumerate().map(|(i, r)| {
            let (name, ty, site) = (&r.name, &r.ty, r.site);
            let private = private_at(site);
            let var = variable_name(&r.var);
            let tcx = tcx(site);
            // The same check as the driver's `broadcast!`, at its span: rustc reports a type
            // that cannot be broadcast once, there.
            quote_spanned! {site=>
                let _ = |__async_cx: &mut ::asyncopt_runtime::Driver, __async_value: &#ty| {
                    let _ = #private::broadcast(__async_cx, #var, __async_value, false);
                };
                let #name: &#ty = #tcx.read(#i)?;
            }
        });
        let read_names = self.reads.iter().map(|r| &r.name);
        let history_reads = self.histories.iter().enumerate().map(|(i, name)| {
            let tcx = tcx(Span::call_site());
            quote! { let #name: &#private::HistorySlice = #tcx.history(#i)?; }
        });
        let history_names = &self.histories;
        let item = {
            let tcx = tcx(Span::call_site());
            match self.source {
                Source::All(_) => quote!(#tcx.partition()),
                Source::Sampled { .. } => quote!(#tcx.batch()?),
            }
        };
        let checks = self.travel_checks();
        let site = self.span;
        let (tcx, tcx_here) = (tcx(site), tcx(Span::call_site()));
        let decode = quote_spanned! {site=>
            let (#(#names,)*): (#(#owned,)*) = #tcx.captures()?;
        };
        let (task, bind_task) = self.bind_task();
        let encode = quote_spanned! {site=>
            #bind_task
            let #task = __async_outcome(#task);
            #tcx.encode(&#task(#item, (#(#passed,)* #(#read_names,)* #(#history_names,)*)))
        };
        let mut body = quote! {
            #checks
            #decode
            #(#reads)*
            #(#history_reads)*
            #encode
        };
        // Each block's imports in a block of their own, so that an inner one shadows an outer
        // one of the same name as it does around the site.
        for level in self.uses.iter().rev() {
            body = quote! {
                #(#[allow(unused_imports)] #level)*
                { #body }
            };
        }
        let source_hash = self.source_hash;
        let span = Span::call_site();
        let capture_traits = self.capture_traits();
        quote_spanned! {span=>
            #capture_traits

            #[doc(hidden)]
            const #id: &str = ::core::concat!(
                ::core::module_path!(), "::", #id_text, "@", #line, ":", #column,
                " (", #site_file, ":", #site_line, ")"
            );

            #[doc(hidden)]
            // The workers' copy of the closure: the author's lints are reported once, on the
            // driver's copy (the witness), which rustc checks as well.
            #[allow(unused, unused_results, clippy::all, clippy::pedantic, clippy::nursery)]
            fn #task_fn(
                #tcx_here: &#private::TaskContext<'_>,
            ) -> ::core::result::Result<::std::vec::Vec<u8>, #private::TaskError> {
                #body
            }

            #private::inventory::submit! {
                #private::TaskEntry::new(
                    #id,
                    #task_fn,
                    #source_hash,
                    // The author's crate's version, expanded in that crate.
                    ::core::option_env!("CARGO_PKG_VERSION"),
                )
            }
        }
    }
}

/// What to write instead when capture `c` cannot travel, from how it is declared and used.
fn capture_advice(c: &Capture) -> Vec<String> {
    let name = c.name.unraw();
    let owned = crate::rewrite::type_text(c.owned());
    let mut notes = Vec::new();
    if let Some(field) = c.fields.first() {
        let more = if c.fields.len() > 1 {
            ", and likewise each other field it reads"
        } else {
            ""
        };
        notes.push(format!(
            "the closure reads only fields of `{name}`, but the whole `{owned}` would travel: \
             bind what it reads before the training loop, with the field's type, \
             `let {field}: TYPE = {name}.{field};`, and use `{field}` in the closure{more}"
        ));
    }
    let (base, args) = match c.owned() {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or((None, Vec::new()), |last| {
                let args = match &last.arguments {
                    syn::PathArguments::AngleBracketed(args) => args
                        .args
                        .iter()
                        .filter_map(|arg| match arg {
                            syn::GenericArgument::Type(ty) => Some(crate::rewrite::type_text(ty)),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                (Some(last.ident.to_string()), args)
            }),
        _ => (None, Vec::new()),
    };
    match (base.as_deref(), args.as_slice()) {
        (Some("Rc" | "Arc"), [inner]) => notes.push(format!(
            "a `{owned}` shares its value inside this process, and cannot travel: capture an \
             owned value, declared before the training loop: \
             `let {name}: {inner} = (*{name}).clone();`"
        )),
        (Some("RefCell" | "Cell" | "Mutex" | "RwLock"), _) => notes.push(format!(
            "a `{owned}` is shared state of this process, which workers cannot see: capture \
             the value it holds, read before the reduce!"
        )),
        (Some(base), [_, ..]) => notes.push(format!(
            "`{owned}` travels when its type arguments (`{args}`) have `serde::Serialize` and \
             `serde::Deserialize`, as well as `{base}` itself: a type of another crate without \
             them (`std::time::Instant`, a file, a lock) cannot travel; capture what the \
             workers need of it instead (a number, a `Duration`)",
            args = args.join("`, `"),
        )),
        _ if c.fields.is_empty() => {
            notes.push(format!(
                "captured values are sent to worker processes: derive `serde::Serialize` and \
                 `serde::Deserialize` for `{owned}` if it is a type of yours"
            ));
            notes.push(
                "a type of another crate without them (`std::time::Instant`, a file, a lock) \
                 cannot travel: capture what the workers need of it instead (a number, a \
                 `Duration`)"
                    .to_owned(),
            );
        }
        _ => {}
    }
    notes
}

/// `&ty`, built rather than parsed: a type such as `impl A + B` is no type syn reads after `&`.
pub(crate) fn reference_to(ty: Type) -> Type {
    Type::Reference(syn::TypeReference {
        and_token: Default::default(),
        lifetime: None,
        mutability: None,
        elem: Box::new(ty),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_identifier_broadcasts_under_its_name() {
        let driver = format_ident!("cx");
        let exit = Lifetime::new("'train", Span::call_site());
        let var: Ident = syn::parse_str("r#type").unwrap();
        let expanded = broadcast(&driver, &var, true, &exit).to_string();
        assert!(expanded.contains("\"type\""), "{expanded}");
        assert!(!expanded.contains("\"r#type\""), "{expanded}");
    }
}
