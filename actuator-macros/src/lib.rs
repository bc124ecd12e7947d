//! Procedural macros of [actuator](https://docs.rs/actuator): parse → check → expand, in that order and in
//! separate modules (as serde_derive, thiserror and clap_derive do).
//!
//! * `#[derive(Resource)]` — a resource type: its typed path (with its outputs), `Element`, `IntoRef`.
//! * `#[derive(InfraModel)]`, `#[derive(ResourceGroup)]` — infra models and reusable groups.
//! * `namespace! { … }` — namespace models and role groups, with `!{VAR}` checks.
//! * `config! { … }` — config models with their dependency expressions, cycle-checked.
//!
//! Every check reports all its errors at once at the user's tokens, and on error the macro still
//! emits the model's items so that one mistake gives one error, not a cascade.

use proc_macro::TokenStream;

mod check;
mod ctxt;
mod expand;
mod ir;
mod parse;
mod resource;
mod rewrite;

/// Declares a resource type. See `actuator::infra` for examples.
#[proc_macro_derive(Resource, attributes(resource))]
pub fn derive_resource(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    resource::expand(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares an infra model: every field with `#[component(expr)]` is a component.
#[proc_macro_derive(InfraModel, attributes(component, infra))]
pub fn derive_infra_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::model(parse::from_derive(input, ir::Kind::Infra)).into()
}

/// Declares a reusable group of infra components (used as `ResourceGroup<G>` or
/// `MultiResourceGroup<G>`); members reach siblings through `ctx.comp.container`.
#[proc_macro_derive(ResourceGroup, attributes(component, infra))]
pub fn derive_resource_group(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::model(parse::from_derive(input, ir::Kind::InfraGroup)).into()
}

/// Declares a namespace model (`struct`) or a role group (`group`).
#[proc_macro]
pub fn namespace(input: TokenStream) -> TokenStream {
    expand::model(parse::from_macro(input.into(), ir::Family::Namespace)).into()
}

/// Declares a config model: tasks bound to roles, and their dependencies.
#[proc_macro]
pub fn config(input: TokenStream) -> TokenStream {
    expand::model(parse::from_macro(input.into(), ir::Family::Config)).into()
}
