//! `#[derive(Resource)]`: a resource type's `KIND`, its typed path (with its outputs), `Element`
//! (name, kind and every reference its arguments hold) and conversions.
//!
//! ```text
//! #[derive(Resource, Clone, Debug)]
//! #[resource(kind = "test.Server", outputs(ip: IpAddr, id: Id<Self>), addressable)]
//! pub struct Server { name: String, nics: Vec<Ref<Network>>, … }
//! ```
//!
//! On a reported error the items are still emitted (with placeholders), so a model using a resource
//! with a mistake in its declaration gets that one error, not a cascade.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, LitStr};

use crate::ir::Resource;

/// The items of a checked resource.
pub fn resource(r: &Resource) -> TokenStream {
    let items = [
        kind_const(r),
        path_struct(r),
        path_impls(r),
        element_impl(r),
        component_impl(r),
    ];
    quote!(#(#items)*)
}

fn path_ty(r: &Resource) -> Ident {
    format_ident!("{}Path", r.ident)
}

/// `Type::KIND`: the kind string, written once in the attribute and used everywhere else.
fn kind_const(r: &Resource) -> TokenStream {
    let ident = &r.ident;
    let vis = &r.vis;
    let kind = r
        .kind
        .clone()
        .unwrap_or_else(|| LitStr::new("", ident.span()));
    quote! {
        impl #ident {
            #[doc = ::core::concat!("The kind of every [`", ::core::stringify!(#ident), "`]: `", #kind, "`.")]
            #vis const KIND: &'static str = #kind;
        }
    }
}

fn path_struct(r: &Resource) -> TokenStream {
    let p = quote!(::actuator::__private);
    let (ident, vis, path_ty) = (&r.ident, &r.vis, path_ty(r));
    let (names, tys): (Vec<_>, Vec<_>) = r.outputs.iter().map(|(n, t)| (n, t)).unzip();
    let strs: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    // With an output, the place is the outputs' (see `path_impls`): a field of its own would be
    // listed by rustc's "available fields" note beside them.
    let at = names.is_empty().then(|| quote!(__at: #p::At,));
    quote! {
        #[doc = ::core::concat!("Typed path to a [`", ::core::stringify!(#ident), "`] component, with its outputs.")]
        #[derive(Clone, Copy, Debug, PartialEq)]
        #vis struct #path_ty {
            #at
            #( #[doc = ::core::concat!("Output `", #strs, "`, known after provisioning.")] pub #names: #p::Out<#tys>, )*
        }
    }
}

fn path_impls(r: &Resource) -> TokenStream {
    let p = quote!(::actuator::__private);
    let (ident, path_ty) = (&r.ident, path_ty(r));
    let names: Vec<_> = r.outputs.iter().map(|(n, _)| n).collect();
    let strs: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let addressable = r.addressable.then(|| {
        // `IntoHost` per path type, not as a blanket impl over a marker trait: a class-level
        // path's `IntoHost` would then be one of two candidates, and rustc would show the
        // generic "not addressable" instead of the class-level message.
        quote! {
            impl #p::IntoHost for #path_ty {
                fn into_host(self) -> #p::HostRef { #p::HostRef::Infra(#p::Located::at(&self)) }
            }
        }
    });
    let (at, own) = match names.first() {
        Some(first) => (quote!(#p::Located::at(&self.#first)), quote!()),
        None => (quote!(self.__at), quote!(__at: at,)),
    };
    quote! {
        impl #p::Located for #path_ty {
            fn at(&self) -> #p::At { #at }
        }
        impl #p::FromAt for #path_ty {
            fn from_at(at: #p::At) -> Self {
                #path_ty { #own #( #names: #p::Out::new(at, #strs), )* }
            }
        }
        impl #p::IntoRef<#ident> for #path_ty {
            fn into_ref(self) -> #p::Ref<#ident> { #p::Ref::new(#p::Located::at(&self)) }
        }
        #addressable
    }
}

fn element_impl(r: &Resource) -> TokenStream {
    let p = quote!(::actuator::__private);
    let ident = &r.ident;
    let has = |name: &str| r.fields.iter().any(|f| f.ident == name);
    let base_name = if has("name") {
        quote!(&self.name)
    } else {
        quote!("")
    };
    // `cloud: Option<String>`: the provisioner proxy the resource asks for (`Element::cloud`).
    let cloud = has("cloud").then(|| {
        quote! {
            fn cloud(&self) -> ::core::option::Option<&str> {
                ::core::option::Option::as_deref(&self.cloud)
            }
        }
    });
    let walked: Vec<_> = r
        .fields
        .iter()
        .filter(|f| !f.skip && f.ident != "name")
        .map(|f| &f.ident)
        .collect();
    let walked_names = walked.iter().map(|i| i.to_string());
    let addressable = r.addressable;
    let args = args_fns(r);
    quote! {
        impl #p::Element for #ident {
            fn kind(&self) -> &'static str { Self::KIND }
            fn base_name(&self) -> &str { #base_name }
            fn visit_refs(&self, f: &mut dyn FnMut(#p::At)) {
                #( #p::Refs::visit_refs(&self.#walked, f); )*
            }
            fn visit_unparsed(&self, f: &mut dyn FnMut(&'static str, #p::Unparsed<'_>)) {
                #( #p::Refs::visit_unparsed(&self.#walked, &mut |u: #p::Unparsed<'_>| f(#walked_names, u)); )*
            }
            fn addressable(&self) -> bool { #addressable }
            #cloud
            #args
        }
    }
}

/// `Element::args` and `Element::change_policy`: every argument but skipped ones is recorded in
/// the state, so a later run sees what changed and whether that replaces the resource.
fn args_fns(r: &Resource) -> TokenStream {
    let p = quote!(::actuator::__private);
    let inserts = r.fields.iter().filter(|f| !f.skip).map(|f| {
        let (i, ty) = (&f.ident, &f.ty);
        let s = i.to_string();
        // At the field's type: a type without `ArgValue` is reported at the user's field.
        quote_spanned! {ty.span()=>
            __actuator_args.insert(#s, <#ty as #p::ArgValue>::arg(&self.#i, __actuator_cx));
        }
    });
    let update: Vec<String> = r.update.iter().map(Ident::to_string).collect();
    let create_before_destroy = r.create_before_destroy;
    quote! {
        fn args(&self, __actuator_cx: &#p::ArgCx<'_>) -> #p::Args {
            let mut __actuator_args = #p::Args::new();
            #( #inserts )*
            __actuator_args
        }
        fn change_policy(&self) -> #p::ChangePolicy {
            #p::ChangePolicy {
                update_in_place: &[#( #update ),*],
                create_before_destroy: #create_before_destroy,
            }
        }
    }
}

fn component_impl(r: &Resource) -> TokenStream {
    let p = quote!(::actuator::__private);
    let (ident, path_ty) = (&r.ident, path_ty(r));
    let names = r.outputs.iter().map(|(n, _)| n);
    let strs = r.outputs.iter().map(|(n, _)| n.to_string());
    let own = r
        .outputs
        .is_empty()
        .then(|| quote!(__at: #p::At::UNPLACED,));
    quote! {
        #p::__leaf_component!(
            #ident,
            #path_ty,
            <#path_ty as #p::FromAt>::from_at,
            #path_ty { #own #( #names: #p::Out::new(#p::At::UNPLACED, #strs), )* }
        );
    }
}
