//! The error accumulator: parsing and checking record every error here, so the user sees all of them
//! at once, each at its own token.
//!
//! Like serde_derive's `Ctxt`, it must be emptied with [`Ctxt::into_tokens`]: dropping it with
//! errors still inside is a bug in the macro (they would vanish), so it panics.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

pub struct Ctxt {
    /// `None` once taken.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub fn new() -> Ctxt {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error spanning `tokens`.
    pub fn error(&self, tokens: impl ToTokens, msg: impl Display) {
        self.push(syn::Error::new_spanned(tokens.into_token_stream(), msg));
    }

    /// Records an error (a parse error, or one built with its own span).
    pub fn push(&self, e: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Ctxt used after its errors were taken")
            .push(e);
    }

    /// Whether any error was recorded so far.
    pub fn has_errors(&self) -> bool {
        self.errors.borrow().as_ref().is_some_and(|e| !e.is_empty())
    }

    /// Takes the errors as `compile_error!` invocations, one per error.
    pub fn into_tokens(self) -> TokenStream {
        self.errors
            .borrow_mut()
            .take()
            .expect("Ctxt errors taken twice")
            .into_iter()
            .map(syn::Error::into_compile_error)
            .collect()
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if self.errors.get_mut().is_some() && !std::thread::panicking() {
            panic!("Ctxt dropped without taking its errors (call `into_tokens`)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_errors_become_compile_errors() {
        let cx = Ctxt::new();
        cx.error(quote::quote!(x), "first");
        cx.push(syn::Error::new(proc_macro2::Span::call_site(), "second"));
        assert!(cx.has_errors());
        let out = cx.into_tokens().to_string();
        assert!(out.contains("first") && out.contains("second"), "{out}");
    }

    #[test]
    #[should_panic(expected = "without taking its errors")]
    fn dropping_untaken_errors_panics() {
        let cx = Ctxt::new();
        cx.error(quote::quote!(x), "lost");
    }
}
