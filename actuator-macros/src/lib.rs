//! Procedural macros of [actuator](https://docs.rs/actuator).
//!
//! * `#[derive(Resource)]` — a resource type: its typed path (with its outputs), `Element`,
//!   `IntoRef` and its `KIND` string.
//! * `#[derive(InfraModel)]`, `#[derive(ResourceGroup)]` — infra models and reusable groups.
//! * `namespace! { … }` — namespace models and role groups, with `!{VAR}` checks.
//! * `config! { … }` — config models with their dependency expressions, cycle-checked.
//!
//! Every macro is the same pipeline, in this order and in separate modules (as serde_derive,
//! thiserror and clap_derive do):
//!
//! 1. `parse`: the input into the IR (`ir`); only syntax errors are reported here.
//! 2. `check`: every rule, over the IR, all errors at once at the user's tokens.
//! 3. `expand`: the IR into code, one function per generated item.
//!
//! Errors are collected in a `ctxt::Ctxt` and emitted next to the generated items: on error the
//! macro still emits the model's items (with placeholders for what was reported), so one mistake
//! gives one error, not a cascade.

use proc_macro::TokenStream;
use quote::quote;

mod check;
mod ctxt;
mod expand;
mod ir;
mod parse;
mod rewrite;
mod var_names;

use ctxt::Ctxt;
use ir::{Family, Kind, Model};

/// Declares a resource type. See `actuator::infra` for examples.
#[proc_macro_derive(Resource, attributes(resource))]
pub fn derive_resource(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let cx = Ctxt::new();
    let resource = parse::resource(&cx, &input);
    check::resource(&cx, &resource);
    let errors = cx.into_tokens();
    let items = expand::resource(&resource);
    quote!(#errors #items).into()
}

/// Declares an infra model: every field with `#[component(expr)]` is a component.
#[proc_macro_derive(InfraModel, attributes(component, infra))]
pub fn derive_infra_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let cx = Ctxt::new();
    let model = parse::derive_model(&cx, input, Kind::Infra);
    check_and_expand(cx, Some(model))
}

/// Declares a reusable group of infra components (used as `ResourceGroup<G>` or
/// `MultiResourceGroup<G>`); members reach siblings through `ctx.comp.container`.
#[proc_macro_derive(ResourceGroup, attributes(component, infra))]
pub fn derive_resource_group(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let cx = Ctxt::new();
    let model = parse::derive_model(&cx, input, Kind::InfraGroup);
    check_and_expand(cx, Some(model))
}

/// Declares a namespace model (`struct`) or a role group (`group`).
#[proc_macro]
pub fn namespace(input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let model = parse::macro_model(&cx, input.into(), Family::Namespace);
    check_and_expand(cx, model)
}

/// Declares a config model: tasks bound to roles, and their dependencies.
#[proc_macro]
pub fn config(input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let model = parse::macro_model(&cx, input.into(), Family::Config);
    check_and_expand(cx, model)
}

/// The model pipeline after parsing: check, then expand unless the model cannot be generated.
fn check_and_expand(cx: Ctxt, model: Option<Model>) -> TokenStream {
    let items = model.and_then(|mut m| check::model(&cx, &mut m).then(|| expand::model(&m)));
    let errors = cx.into_tokens();
    quote!(#errors #items).into()
}
