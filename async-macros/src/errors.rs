//! Collects every spanned error of one expansion, so the user fixes them all in one compile.

use proc_macro2::TokenStream;
use quote::ToTokens;
use std::fmt::Display;

/// The errors found so far.
#[derive(Default)]
pub struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    /// Records `message` at the span of `tokens`.
    pub fn at(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error already built.
    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every error as `compile_error!` invocations.
    pub fn into_compile_errors(self) -> TokenStream {
        self.errors
            .iter()
            .map(syn::Error::to_compile_error)
            .collect()
    }

    /// Every message as a `compile_error!(..)` expression, of rustc's error type: one each,
    /// also of an error combined from several (`syn::Error::combine`), whose compile errors
    /// side by side would be no expression.
    pub fn into_expressions(self) -> Vec<TokenStream> {
        self.errors
            .iter()
            .flatten()
            .map(|error| {
                // `to_compile_error` writes `compile_error! { .. }`: parentheses make it an
                // expression wherever it stands.
                let parenthesized = |tree| match tree {
                    proc_macro2::TokenTree::Group(group)
                        if group.delimiter() == proc_macro2::Delimiter::Brace =>
                    {
                        let mut paren = proc_macro2::Group::new(
                            proc_macro2::Delimiter::Parenthesis,
                            group.stream(),
                        );
                        paren.set_span(group.span());
                        proc_macro2::TokenTree::Group(paren)
                    }
                    tree => tree,
                };
                error
                    .to_compile_error()
                    .into_iter()
                    .map(parenthesized)
                    .collect()
            })
            .collect()
    }
}
