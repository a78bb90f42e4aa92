//! What the DSL sites become: short calls into `async_runtime::__private`, plus one worker
//! function per `reduce!` site, registered under a stable id.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ExprClosure, Ident, Lifetime, Pat, Type};

/// A value a `reduce!` closure captures.
pub struct Capture {
    /// The name, with the span of its use in the closure.
    pub name: Ident,
    /// The type the closure sees, as declared.
    pub declared: Type,
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
    pub name: Ident,
    pub ty: Type,
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

/// Everything known about one `reduce!` site.
pub struct Reduce<'a> {
    pub driver: &'a Ident,
    pub fn_name: &'a Ident,
    pub index: usize,
    pub source: Source<'a>,
    pub closure: &'a ExprClosure,
    pub captures: Vec<Capture>,
    pub reads: Vec<Read>,
    /// History tables the closure reads: each task carries only its rows' entries.
    pub histories: Vec<Ident>,
    pub barrier: Option<Ident>,
    pub max_staleness: Option<&'a Expr>,
    pub exit: &'a Lifetime,
}

fn private() -> TokenStream {
    quote!(::async_runtime::__private)
}

/// `broadcast!(w)`: publish, and leave the training loop when a stop rule fired.
pub fn broadcast(driver: &Ident, var: &Ident, is_model: bool, exit: &Lifetime) -> TokenStream {
    let private = private();
    let name = var.to_string();
    quote_spanned! {var.span()=>
        if #private::broadcast(#driver, #name, &#var, #is_model) {
            break #exit;
        }
    }
}

/// `barrier!(rule)`: the rule is evaluated where it is written and kept for the next reduce.
pub fn barrier(binding: &Ident, rule: &Expr) -> TokenStream {
    let private = private();
    quote! { let #binding = #private::barrier(#rule); }
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
                let ty = &r.ty;
                syn::parse_quote_spanned!(ty.span()=> &#ty)
            }))
            .chain(
                self.histories
                    .iter()
                    .map(|_| -> Type { syn::parse_quote!(&#private::HistorySlice) }),
            );
        let body = &self.closure.body;
        quote! {
            |#part: #item, (#(#names,)*): (#(#types,)*)| #body
        }
    }

    /// The expression that replaces `reduce!(..)` in the driver's loop.
    pub fn call(&self) -> TokenStream {
        let private = private();
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
            let owned = c.owned();
            quote_spanned! {name.span()=> #private::capture::<#owned>(&#name) }
        });
        let read_names = self.reads.iter().map(|r| r.name.to_string());
        let read_checks = self.reads.iter().map(|r| {
            let (name, ty) = (&r.name, &r.ty);
            quote_spanned! {name.span()=> let _: &#ty = &#name; }
        });
        let witness = self.typed_closure();
        let call = match (&self.barrier, self.max_staleness) {
            (None, _) => quote! {
                #private::reduce_sync(#driver, #source, #id, &captures, &[#(#read_names),*], &[#(#histories),*], #witness)
            },
            (Some(barrier), bound) => {
                let bound = match bound {
                    Some(bound) => {
                        quote_spanned!(bound.span()=> ::core::option::Option::Some(#bound))
                    }
                    None => quote!(::core::option::Option::<#private::NoBound>::None),
                };
                quote! {
                    #private::reduce_async(#driver, #source, #id, &captures, &[#(#read_names),*], &[#(#histories),*], #barrier, #bound, #witness)
                }
            }
        };
        quote! {
            match {
                #(#read_checks)*
                let captures = (#(#captures,)*);
                #call
            } {
                ::core::option::Option::Some(result) => result,
                ::core::option::Option::None => break #exit,
            }
        }
    }

    /// The worker function of this site and its registration.
    pub fn task(&self) -> TokenStream {
        let private = private();
        let id = self.task_id_const();
        let task_fn = self.task_fn();
        let id_text = format!("{}#{}", self.fn_name, self.index);
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
            let (name, ty) = (&r.name, &r.ty);
            quote! { let #name: &#ty = tcx.read::<#ty>(#i)?; }
        });
        let read_names = self.reads.iter().map(|r| &r.name);
        let history_reads = self.histories.iter().enumerate().map(|(i, name)| {
            quote! { let #name: &#private::HistorySlice = tcx.history(#i)?; }
        });
        let history_names = &self.histories;
        let item = match self.source {
            Source::All(_) => quote!(tcx.partition()),
            Source::Sampled { .. } => quote!(tcx.batch()?),
        };
        let closure = self.typed_closure();
        let span = Span::call_site();
        quote_spanned! {span=>
            #[doc(hidden)]
            const #id: &str = ::core::concat!(::core::module_path!(), "::", #id_text);

            #[doc(hidden)]
            #[allow(unused_variables, clippy::all)]
            fn #task_fn(
                tcx: &#private::TaskContext<'_>,
            ) -> ::core::result::Result<::std::vec::Vec<u8>, #private::TaskError> {
                let (#(#names,)*): (#(#owned,)*) = tcx.captures()?;
                #(#reads)*
                #(#history_reads)*
                let task = #closure;
                tcx.encode(&task(#item, (#(#passed,)* #(#read_names,)* #(#history_names,)*)))
            }

            #private::inventory::submit! {
                #private::TaskEntry::new(#id, #task_fn)
            }
        }
    }
}
