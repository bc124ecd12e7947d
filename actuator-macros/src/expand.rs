//! Code generation: `quote!` only. Everything generated reaches the runtime through
//! `::actuator::__private`, the one private path the macros depend on.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Lit};

use crate::check;
use crate::ir::{Kind, Model, Value};
use crate::rewrite;

mod resource;
pub use resource::resource;

/// The items of a checked model.
pub fn model(m: &Model) -> TokenStream {
    generate(m)
}

fn generate(m: &Model) -> TokenStream {
    let p = quote!(::actuator::__private);
    let ident = &m.ident;
    let vis = &m.vis;
    let attrs = &m.attrs;
    let path_ty = format_ident!("{}Path", ident);
    let nexus_ty = format_ident!("{}Nexus", ident);
    let vars_ty = format_ident!("{}Vars", ident);
    let names: Vec<_> = m.comps.iter().map(|c| &c.name).collect();
    let name_strs: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let tys: Vec<_> = m.comps.iter().map(|c| &c.ty).collect();
    let docs: Vec<Vec<_>> = m
        .comps
        .iter()
        .map(|c| {
            c.attrs
                .iter()
                .filter(|a| a.path().is_ident("doc"))
                .collect()
        })
        .collect();

    // Static offsets: component i sits after the sizes of components 0..i.
    let offsets: Vec<TokenStream> = (0..tys.len())
        .map(|i| {
            let before = &tys[..i];
            quote!(1u32 #( + <#before as #p::Component>::SIZE )*)
        })
        .collect();

    let decl = if m.emit_struct {
        quote! {
            #(#attrs)*
            #vis struct #ident;
        }
    } else {
        quote!()
    };

    let has_vars = m.kind.has_vars();
    let var_names: Vec<_> = m
        .vars
        .iter()
        .map(|v| &v.name)
        .chain(m.externs.iter())
        .collect();
    let var_strs: Vec<String> = var_names.iter().map(|v| v.to_string()).collect();
    let (vars_field, vars_init, vars_struct) = if m.kind == Kind::Namespace {
        (
            quote!(
                /// Typed references to the namespace's variables (`ns.v.NAME`).
                pub v: #vars_ty,
            ),
            quote!(v: #vars_ty { #( #var_names: #p::VarRef::new(__actuator_at, #var_strs), )* },),
            quote! {
                #[doc = ::core::concat!("The variables declared by [`", ::core::stringify!(#ident), "`].")]
                #[allow(non_snake_case)]
                #[derive(Clone, Copy, Debug)]
                #vis struct #vars_ty {
                    #( #[doc = ::core::concat!("Variable `", #var_strs, "`.")] pub #var_names: #p::VarRef, )*
                }
            },
        )
    } else {
        (quote!(), quote!(), quote!())
    };

    let path_struct = quote! {
        #[doc = ::core::concat!("Typed paths into a [`", ::core::stringify!(#ident), "`]: one field per component.")]
        #[derive(Clone, Copy)]
        #vis struct #path_ty {
            __at: #p::At,
            #( #[doc = ::core::concat!("Component `", #name_strs, "`.")] #(#docs)* pub #names: <#tys as #p::Component>::Path, )*
            #vars_field
        }
        impl #p::Located for #path_ty {
            fn at(&self) -> #p::At { self.__at }
        }
        impl #p::FromAt for #path_ty {
            fn from_at(at: #p::At) -> Self { <#ident as #p::Members>::members_path(at) }
        }
        impl ::core::fmt::Debug for #path_ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::write!(f, "{}@{:?}", ::core::stringify!(#ident), self.__at)
            }
        }
        impl ::core::cmp::PartialEq for #path_ty {
            fn eq(&self, o: &Self) -> bool { self.__at == o.__at }
        }
        impl #p::IntoRef<#p::Group<#ident>> for #path_ty {
            fn into_ref(self) -> #p::Ref<#p::Group<#ident>> { #p::Ref::new(self.__at) }
        }
        #vars_struct
    };

    // ctx.nexus: only the models this one is connected to, so `ctx.nexus.ns` in a model without a
    // namespace is rustc's "no field `ns`" at the user's token.
    let mut nexus_fields = Vec::new();
    let mut nexus_inits = Vec::new();
    let self_model =
        quote!(<#ident as #p::Members>::members_path(#p::At::root(__actuator_at.model)));
    match m.kind {
        Kind::Infra => {
            nexus_fields.push(quote!(pub inf: #path_ty));
            nexus_inits.push(quote!(inf: #self_model));
            if let Some(ns) = &m.namespace {
                nexus_fields.push(quote!(pub ns: <#ns as #p::Members>::Path));
                nexus_inits.push(quote!(ns: <#ns as #p::Members>::members_path(#p::At::root(#p::model_id(__actuator_w, #p::ModelKind::Namespace)))));
            }
        }
        Kind::Namespace | Kind::RoleGroup => {
            if m.kind == Kind::Namespace {
                nexus_fields.push(quote!(pub ns: #path_ty));
                nexus_inits.push(quote!(ns: #self_model));
            }
            if let Some(inf) = &m.bound {
                nexus_fields.push(quote!(pub inf: <#inf as #p::Members>::Path));
                nexus_inits.push(quote!(inf: <#inf as #p::Members>::members_path(#p::At::root(#p::model_id(__actuator_w, #p::ModelKind::Infra)))));
            }
        }
        Kind::Config => {
            nexus_fields.push(quote!(pub cfg: #path_ty));
            nexus_inits.push(quote!(cfg: #self_model));
            if let Some(ns) = &m.bound {
                nexus_fields.push(quote!(pub ns: <#ns as #p::Members>::Path));
                nexus_inits.push(quote!(ns: <#ns as #p::Members>::members_path(#p::At::root(#p::model_id(__actuator_w, #p::ModelKind::Namespace)))));
                nexus_fields.push(
                    quote!(pub inf: <<#ns as #p::NamespaceModel>::Infra as #p::Members>::Path),
                );
                nexus_inits.push(
                    quote!(inf: #p::infra_path::<<#ns as #p::NamespaceModel>::Infra>(__actuator_w)),
                );
            }
        }
        Kind::InfraGroup => {}
    }
    let nexus_struct = quote! {
        #[doc = ::core::concat!("`ctx.nexus` of [`", ::core::stringify!(#ident), "`]: the connected models.")]
        #[derive(Clone, Copy, Debug)]
        #vis struct #nexus_ty { #( #[allow(missing_docs)] #nexus_fields, )* }
    };

    let model_path = if m.kind.is_model() {
        quote!(#self_model)
    } else {
        quote!(#p::Unbound)
    };
    let bindings = match m.kind {
        Kind::Namespace | Kind::RoleGroup if m.bound.is_some() => {
            quote!(#[allow(unused_variables)] let infra = ctx.nexus.inf;)
        }
        Kind::Config if m.bound.is_some() => {
            quote!(#[allow(unused_variables)] let ns = ctx.nexus.ns; #[allow(unused_variables)] let q = ctx.nexus.ns;)
        }
        _ => quote!(),
    };

    let ctx_new = quote! {
        #[allow(unused_variables)]
        let ctx = &#p::Ctx {
            model: __actuator_model,
            nexus: __actuator_nexus,
            comp: #p::Comp { container: __actuator_cv.clone(), idx: __actuator_env.idx.clone(), at: __actuator_env.at },
            name: &__actuator_env.name,
            env: __actuator_env,
        };
        #bindings
    };

    // Without its namespace a config model's expressions cannot resolve `ns`; that is reported
    // once, on the model, and the expressions are not type-checked.
    let unresolved = m.kind == Kind::Config && m.bound.is_none();
    let builds = m.comps.iter().zip(&offsets).map(|(c, off)| {
        let ty = &c.ty;
        let span = match &c.value {
            Value::Expr(e) => e.span(),
            _ => c.name.span(),
        };
        let value = match &c.value {
            // Already reported: a placeholder of the component's type, never run.
            _ if unresolved => {
                quote_spanned!(span=> ::core::unreachable!("component expression with a compile error"))
            }
            Value::Invalid | Value::Assigned(_) | Value::Missing => {
                quote_spanned!(span=> ::core::unreachable!("component expression with a compile error"))
            }
            Value::Expr(e) => {
                let e = rewrite::expr(e.clone());
                quote_spanned!(span=> ::core::convert::Into::<#ty>::into(#e))
            }
            Value::Default => quote_spanned!(span=> <#ty as ::core::default::Default>::default()),
        };
        quote! {
            <#ty as #p::Component>::build::<#p::Within<#path_ty, __ActuatorUp>>(
                __actuator_w,
                __actuator_at.offset(#off),
                __actuator_view.clone(),
                #p::Arc::new(move |__actuator_env: &#p::Env<'_>, __actuator_cv: &<#ty as #p::Component>::View<#p::Within<#path_ty, __ActuatorUp>>| -> #ty {
                    #ctx_new
                    #value
                }),
            );
        }
    });

    let var_builds = if has_vars {
        let vs = m.vars.iter().map(|v| {
            let name = v.name.to_string();
            let in_env = v.in_env;
            match &v.value {
                Expr::Lit(l) if matches!(l.lit, Lit::Str(_)) => {
                    quote!(__actuator_set.add(#p::Var::new(#name, #l).in_env(#in_env));)
                }
                e => {
                    let e = rewrite::expr(e.clone());
                    quote! {
                        __actuator_set.add(#p::Var::lazy(#name, #p::Arc::new({
                            let __actuator_cv = __actuator_view.clone();
                            move |__actuator_env: &#p::Env<'_>| -> #p::VarValue {
                                #ctx_new
                                #p::VarValue::from(#e)
                            }
                        })).in_env(#in_env));
                    }
                }
            }
        });
        quote! {
            {
                let mut __actuator_set = #p::VarSet::default();
                #( #vs )*
                #p::set_vars(__actuator_w, __actuator_at, __actuator_set);
            }
        }
    } else {
        quote!()
    };

    let touch = if m.emit_struct {
        quote!()
    } else {
        // Reading the fields here keeps rustc's dead-code lint quiet: users never read them.
        quote!(let _ = |s: &#ident| { #( let _ = &s.#names; )* };)
    };

    let members = quote! {
        impl #p::Members for #ident {
            type Path = #path_ty;
            const MEMBERS_SIZE: u32 = 0u32 #( + <#tys as #p::Component>::SIZE )*;
            fn layout_members(nodes: &mut ::std::vec::Vec<#p::Node>, me: u32) {
                #touch
                #( <#tys as #p::Component>::layout(nodes, me, #p::Step::Field(#name_strs)); )*
            }
            fn members_path(__actuator_at: #p::At) -> #path_ty {
                #path_ty {
                    __at: __actuator_at,
                    #( #names: <#tys as #p::Component>::path(__actuator_at.offset(#offsets)), )*
                    #vars_init
                }
            }
            #[allow(unused_variables, clippy::redundant_clone, clippy::needless_borrows_for_generic_args)]
            fn build_members<__ActuatorUp: Clone + Send + Sync + 'static>(
                __actuator_w: &#p::Shared,
                __actuator_at: #p::At,
                __actuator_view: #p::Within<#path_ty, __ActuatorUp>,
            ) {
                let __actuator_model = #model_path;
                let __actuator_nexus = #nexus_ty { #( #nexus_inits, )* };
                #[allow(unused_variables)]
                let __actuator_env = &#p::Env { world: __actuator_w, at: __actuator_at, name: __actuator_view.key.clone(), idx: __actuator_view.idx.clone() };
                #var_builds
                #( #builds )*
            }
        }
    };

    // Namespace groups may hold variables (`RoleGroup::new(..).var(..)`); infra groups may not.
    let namespace_members = if m.kind == Kind::RoleGroup {
        quote!(impl #p::NamespaceMembers for #ident {})
    } else {
        quote!()
    };
    let kind_tok = match m.kind {
        Kind::Infra => quote!(Infra),
        Kind::Namespace => quote!(Namespace),
        _ => quote!(Config),
    };
    let long_names = m.long_names;
    let model_impl = if m.kind.is_model() {
        quote! {
            impl #p::Model for #ident {
                const KIND: #p::ModelKind = #p::ModelKind::#kind_tok;
                const NAME: &'static str = ::core::stringify!(#ident);
                const LONG_NAMES: bool = #long_names;
                fn class_id() -> #p::ModelId {
                    static ID: ::std::sync::OnceLock<#p::ModelId> = ::std::sync::OnceLock::new();
                    *ID.get_or_init(#p::ModelId::fresh)
                }
            }
        }
    } else {
        quote!()
    };

    let ctor = match (m.kind, &m.bound) {
        (Kind::Infra, _) => quote! {
            impl #ident {
                /// Creates an instance of this infra model in a new system.
                #vis fn instance(name: &str) -> #p::Instance<Self> {
                    #p::__instantiate::<Self>(#p::new_world(), name)
                }
            }
        },
        (Kind::Namespace, Some(inf)) => quote! {
            impl #p::NamespaceModel for #ident { type Infra = #inf; }
            impl #ident {
                /// Creates an instance of this namespace, connected to `infra` (host references
                /// into the infra create its keyed instances as needed).
                #vis fn instance(name: &str, infra: &#p::Instance<#inf>) -> #p::Instance<Self> {
                    #p::__instantiate::<Self>(infra.world().clone(), name)
                }
            }
        },
        (Kind::Namespace, None) => quote! {
            impl #p::NamespaceModel for #ident { type Infra = #p::NoInfra; }
            impl #ident {
                /// Creates an instance of this namespace (its hosts are names or addresses).
                #vis fn instance(name: &str) -> #p::Instance<Self> {
                    #p::__instantiate::<Self>(#p::new_world(), name)
                }
            }
        },
        (Kind::Config, Some(ns)) => {
            let edges: Vec<_> = check::dep_edges(&m.deps)
                .into_iter()
                .filter(|(a, b)| names.contains(&a) && names.contains(&b))
                .collect();
            let (ea, eb): (Vec<_>, Vec<_>) = edges.into_iter().unzip();
            let (dkeys, dvals): (Vec<_>, Vec<_>) = m.defaults.iter().cloned().unzip();
            quote! {
                impl #p::ConfigModel for #ident {
                    type Namespace = #ns;
                    #[allow(unused_variables)]
                    fn defaults(__actuator_w: &#p::Shared) -> #p::ConfigDefaults {
                        let ns = <#ns as #p::Members>::members_path(#p::At::root(#p::model_id(__actuator_w, #p::ModelKind::Namespace)));
                        let q = ns;
                        #p::ConfigDefaults::default() #( .#dkeys(#dvals) )*
                    }
                    fn declared_edges(at: #p::At) -> ::std::vec::Vec<(#p::At, #p::At)> {
                        let p = <#ident as #p::Members>::members_path(at);
                        ::std::vec![ #( (#p::Located::at(&p.#ea), #p::Located::at(&p.#eb)), )* ]
                    }
                }
                impl #ident {
                    /// Creates an instance of this config model, connected to `ns`.
                    #vis fn instance(name: &str, ns: &#p::Instance<#ns>) -> #p::Instance<Self> {
                        #p::__instantiate::<Self>(ns.world().clone(), name)
                    }
                }
            }
        }
        _ => quote!(),
    };

    quote! {
        #decl
        #path_struct
        #nexus_struct
        #members
        #namespace_members
        #model_impl
        #ctor
    }
}
