//! `#[derive(Resource)]`: a resource type's typed path (with its outputs), `Element` (name, kind and
//! every reference its arguments hold) and conversions.
//!
//! ```text
//! #[derive(Resource, Clone, Debug)]
//! #[resource(kind = "test.Server", outputs(ip: IpAddr, id: String), addressable)]
//! pub struct Server { name: String, nics: Vec<Ref<Network>>, … }
//! ```

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Token, Type};

pub fn expand(input: DeriveInput) -> syn::Result<TokenStream> {
    let p = quote!(::actuator::__private);
    let ident = &input.ident;
    let vis = &input.vis;
    let path_ty = format_ident!("{}Path", ident);
    // Errors are collected and the items still emitted (with placeholders), so a model using a
    // resource with a mistake in its declaration gets that one error, not a cascade.
    let mut errors: Vec<syn::Error> = Vec::new();
    let mut kind: Option<LitStr> = None;
    let mut outputs: Vec<(Ident, Type)> = Vec::new();
    let mut addressable = false;
    let mut update: Vec<Ident> = Vec::new();
    let mut create_before_destroy = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("resource")) {
        let r = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("kind") {
                kind = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("addressable") {
                addressable = true;
            } else if meta.path.is_ident("create_before_destroy") {
                create_before_destroy = true;
            } else if meta.path.is_ident("update") {
                meta.parse_nested_meta(|u| {
                    update.push(u.path.require_ident()?.clone());
                    Ok(())
                })?;
            } else if meta.path.is_ident("outputs") {
                meta.parse_nested_meta(|o| {
                    let name = o.path.require_ident()?.clone();
                    o.input.parse::<Token![:]>()?;
                    outputs.push((name, o.input.parse()?));
                    Ok(())
                })?;
            } else {
                return Err(meta.error(
                    "expected `kind = \"…\"`, `outputs(name: Type, …)`, `addressable`, `update(arg, …)` or `create_before_destroy`",
                ));
            }
            Ok(())
        });
        errors.extend(r.err());
    }
    let kind = kind.unwrap_or_else(|| {
        errors.push(syn::Error::new_spanned(
            ident,
            "a resource needs `#[resource(kind = \"cloud.Kind\")]`",
        ));
        LitStr::new("", ident.span())
    });
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => f.named.iter().collect(),
            _ => {
                errors.push(syn::Error::new_spanned(
                    ident,
                    "a resource has named fields",
                ));
                Vec::new()
            }
        },
        _ => {
            errors.push(syn::Error::new_spanned(ident, "a resource is a struct"));
            Vec::new()
        }
    };
    let has_name = fields
        .iter()
        .any(|f| f.ident.as_ref().is_some_and(|i| i == "name"));
    if !has_name && errors.is_empty() {
        errors.push(syn::Error::new_spanned(
            ident,
            "a resource has a `name: String` field",
        ));
    }
    // `cloud: Option<String>`: the provisioner proxy the resource asks for (`Element::cloud`).
    let cloud = if fields
        .iter()
        .any(|f| f.ident.as_ref().is_some_and(|i| i == "cloud"))
    {
        quote!(
            fn cloud(&self) -> ::core::option::Option<&str> {
                ::core::option::Option::as_deref(&self.cloud)
            }
        )
    } else {
        quote!()
    };
    let base_name = if has_name {
        quote!(&self.name)
    } else {
        quote!("")
    };
    let skipped = |f: &syn::Field| {
        f.attrs.iter().any(|a| {
            a.path().is_ident("resource") && a.parse_args::<Ident>().is_ok_and(|i| i == "skip")
        })
    };
    let walked: Vec<_> = fields
        .iter()
        .filter(|f| !skipped(f))
        .filter_map(|f| f.ident.as_ref())
        .filter(|i| *i != "name")
        .collect();
    // Every argument but skipped ones is recorded in the state, so a later run sees what changed.
    let recorded: Vec<(&Ident, &Type)> = fields
        .iter()
        .filter(|f| !skipped(f))
        .filter_map(|f| f.ident.as_ref().map(|i| (i, &f.ty)))
        .collect();
    for u in &update {
        if !recorded.iter().any(|(i, _)| *i == u) {
            errors.push(syn::Error::new_spanned(
                u,
                format!("`{u}` is not a recorded argument of `{ident}`: `update(…)` names fields"),
            ));
        }
    }
    let arg_inserts = recorded.iter().map(|(i, ty)| {
        let s = i.to_string();
        quote::quote_spanned! {ty.span()=>
            __actuator_args.insert(#s, <#ty as #p::ArgValue>::arg(&self.#i, __actuator_cx));
        }
    });
    let update_strs: Vec<String> = update.iter().map(Ident::to_string).collect();
    let (out_names, out_tys): (Vec<_>, Vec<_>) = outputs.into_iter().unzip();
    let out_strs: Vec<String> = out_names.iter().map(Ident::to_string).collect();
    let addr = if addressable {
        quote!(impl #p::Addressable for #path_ty {})
    } else {
        quote!()
    };
    let errors = errors.into_iter().map(syn::Error::into_compile_error);
    Ok(quote! {
        #( #errors )*
        #[doc = concat!("Typed path to a [`", stringify!(#ident), "`] component, with its outputs.")]
        #[derive(Clone, Copy, Debug, PartialEq)]
        #vis struct #path_ty {
            __at: #p::At,
            #( #[doc = concat!("Output `", #out_strs, "`, known after provisioning.")] pub #out_names: #p::Out<#out_tys>, )*
        }
        impl #p::Located for #path_ty {
            fn at(&self) -> #p::At { self.__at }
        }
        impl #p::FromAt for #path_ty {
            fn from_at(at: #p::At) -> Self {
                #path_ty { __at: at, #( #out_names: #p::Out::new(at, #out_strs), )* }
            }
        }
        impl #p::IntoRef<#ident> for #path_ty {
            fn into_ref(self) -> #p::Ref<#ident> { #p::Ref::new(self.__at) }
        }
        #addr
        impl #ident {
            /// The resource kind, e.g. `"aws.Vpc"`: what proxies dispatch on and the state records.
            #vis const KIND: &'static str = #kind;
        }
        impl #p::Element for #ident {
            fn kind(&self) -> &'static str { Self::KIND }
            fn base_name(&self) -> &str { #base_name }
            fn visit_refs(&self, f: &mut dyn FnMut(#p::At)) {
                #( #p::Refs::visit_refs(&self.#walked, f); )*
            }
            fn addressable(&self) -> bool { #addressable }
            #cloud
            fn args(&self, __actuator_cx: &#p::ArgCx<'_>) -> #p::Args {
                let mut __actuator_args = #p::Args::new();
                #( #arg_inserts )*
                __actuator_args
            }
            fn change_policy(&self) -> #p::ChangePolicy {
                #p::ChangePolicy {
                    update_in_place: &[#( #update_strs ),*],
                    create_before_destroy: #create_before_destroy,
                }
            }
        }
        #p::__leaf_component!(#ident, #path_ty, <#path_ty as #p::FromAt>::from_at);
    })
}
