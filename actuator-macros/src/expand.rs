//! Code generation: `quote!` only, one function per generated item. Everything generated reaches
//! the runtime through `::actuator::__private`, the one private path the macros depend on.
//!
//! **Size.** Generated code grows by a constant amount per component (issue 15: a model of
//! thousands of components must compile in time, memory and stack linear in its size). Per
//! component there is one row in each table (sizes, layouts, members, path setters), one field in
//! the path struct and its constant, and one small function holding the component's expression;
//! the loops over the tables are runtime functions (`actuator::model::codegen`), generic over the
//! component type only, so no generic closure or instantiation is made per component. The typed
//! paths are a constant (every member placed nowhere) that the path constructor copies and then
//! places through a table of one small function per member, so no generated function grows with
//! the model. Offsets are prefix sums computed once by a `const fn`, not sums spelled out per
//! component; the typed paths every expression sees (`ctx.model`, `ctx.nexus`) are built once per
//! model and shared, never copied per component: `infra`, `ns` and `q` are references to them,
//! since a copy of a model's paths in every component's function (even an unused one) is one move
//! per component for the optimiser, and made release builds quadratic.
//!
//! **Hygiene.** Everything the generated code binds for itself is named `__actuator_*` (values)
//! or `__Actuator*` (types), so a user's `fn env`, `fn at` or `fn view` stays callable inside
//! component expressions; only the documented names (`ctx`, and `infra`, `ns`, `q` where a model
//! is bound to another) are visible to them. Macros are called by absolute path (`::core::…`).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, Type};

use crate::check;
use crate::ir::{Comp, Kind, Model, Value, VarDecl};
use crate::rewrite;

mod resource;
pub use resource::resource;

/// The items of a checked model: its public types, then everything else inside an anonymous
/// `const _` block, so the helpers never clash with the user's names.
pub fn model(m: &Model) -> TokenStream {
    let g = Gen::new(m);
    let public = [
        g.decl(),
        g.path_struct(),
        g.vars_struct(),
        g.nexus_struct(),
        crate::var_names::declaration(m),
    ];
    let private = [
        g.aliases(),
        g.tables(),
        g.path_impls(),
        g.members_impl(),
        g.scope_fns(),
        g.members_fn(),
        g.make_fns(),
        g.var_fns(),
        g.field_reads(),
        g.model_impl(),
        g.kind_impls(),
        crate::var_names::impls(m),
        crate::var_names::config_check(m),
    ];
    // One lint list for every generated function: the user's expressions live in them.
    quote! {
        #(#public)*
        #[allow(unused_variables, non_snake_case, clippy::redundant_clone, clippy::needless_borrows_for_generic_args)]
        const _: () = {
            use ::actuator::__private as __actuator;
            #(#private)*
        };
    }
}

struct Gen<'a> {
    m: &'a Model,
    /// `::actuator::__private` for the public items; inside the `const _` block its alias.
    p: TokenStream,
    /// The alias of `::actuator::__private` inside the `const _` block (fewer tokens per use).
    a: TokenStream,
    path_ty: Ident,
    nexus_ty: Ident,
    vars_ty: Ident,
    comps: Vec<Rendered<'a>>,
}

/// A component with what several items repeat rendered once.
struct Rendered<'a> {
    c: &'a Comp,
    /// Its type's tokens.
    ty: TokenStream,
    /// The function holding its expression.
    make: Ident,
}

impl<'a> Gen<'a> {
    fn new(m: &'a Model) -> Self {
        Gen {
            m,
            p: quote!(::actuator::__private),
            a: quote!(__actuator),
            path_ty: format_ident!("{}Path", m.ident),
            nexus_ty: format_ident!("{}Nexus", m.ident),
            vars_ty: format_ident!("{}Vars", m.ident),
            comps: m
                .comps
                .iter()
                .map(|c| Rendered {
                    c,
                    ty: c.ty.to_token_stream(),
                    make: format_ident!("__actuator_make_{}", c.name),
                })
                .collect(),
        }
    }

    fn comps(&self) -> impl Iterator<Item = (usize, &Rendered<'a>)> {
        self.comps.iter().enumerate()
    }

    /// The variables typed paths name: declared ones, then `extern { }` ones.
    fn var_names(&self) -> impl Iterator<Item = &'a Ident> + 'a {
        self.m
            .vars
            .iter()
            .map(|v| &v.name)
            .chain(self.m.externs.iter())
    }

    /// The function-like macros declare the model's (unit) struct; the derives annotate the user's.
    fn decl(&self) -> TokenStream {
        let Model {
            attrs, vis, ident, ..
        } = self.m;
        if !self.m.emit_struct {
            return quote!();
        }
        quote! {
            #(#attrs)*
            #vis struct #ident;
        }
    }

    /// `ModelPath`: one public field per component (and `v` for a namespace's variables).
    fn path_struct(&self) -> TokenStream {
        let Gen { p, path_ty, .. } = self;
        let Model { vis, ident, .. } = self.m;
        let fields = self.comps().map(|(_, r)| {
            let (name, ty) = (&r.c.name, &r.ty);
            let doc = format!("Component `{name}`.");
            let docs = r.c.attrs.iter().filter(|a| a.path().is_ident("doc"));
            quote!(#[doc = #doc] #(#docs)* pub #name: <#ty as #p::Component>::Path,)
        });
        let vars = (self.m.kind == Kind::Namespace).then(|| {
            let vars_ty = &self.vars_ty;
            quote!(
                /// Typed references to the namespace's variables (`ns.v.NAME`).
                pub v: #vars_ty,
            )
        });
        // With a member, the place is the first member's (see `path_impls`): a field of its own
        // would be listed by rustc's "available fields" note beside the user's components.
        let at = self.m.comps.is_empty().then(|| quote!(__at: #p::At,));
        quote! {
            #[doc = ::core::concat!("Typed paths into a [`", ::core::stringify!(#ident), "`]: one field per component.")]
            #[derive(Clone, Copy)]
            #vis struct #path_ty {
                #at
                #(#fields)*
                #vars
            }
        }
    }

    /// `NamespaceVars`: one `VarRef` per declared or `extern` variable (`ns.v.NAME`).
    fn vars_struct(&self) -> TokenStream {
        if self.m.kind != Kind::Namespace {
            return quote!();
        }
        let Gen { p, vars_ty, .. } = self;
        let Model { vis, ident, .. } = self.m;
        let fields = self.var_names().map(|v| {
            let doc = format!("Variable `{v}`.");
            quote!(#[doc = #doc] pub #v: #p::VarRef,)
        });
        quote! {
            #[doc = ::core::concat!("The variables declared by [`", ::core::stringify!(#ident), "`].")]
            #[allow(non_snake_case)]
            #[derive(Clone, Copy, Debug)]
            #vis struct #vars_ty { #(#fields)* }
        }
    }

    /// `ctx.nexus`: only the models this one is connected to, so `ctx.nexus.ns` in a model without a
    /// namespace is rustc's "no field `ns`" at the user's token. Each field: name, type, how it is
    /// found (from `__actuator_w` and `__actuator_at`).
    fn nexus(&self) -> Vec<(Ident, TokenStream, TokenStream)> {
        let Gen { p, path_ty, .. } = self;
        let ident = &self.m.ident;
        let field = |name: &str, ty, init| (format_ident!("{name}"), ty, init);
        let root = |kind: TokenStream| quote!(#p::At::root(#p::model_id(__actuator_w, #p::ModelKind::#kind)));
        let paths_of = |ty: &Type, kind| {
            let root = root(kind);
            (
                quote!(<#ty as #p::Members>::Path),
                quote!(<#ty as #p::Members>::members_path(#root)),
            )
        };
        let own = quote!(<#ident as #p::Members>::members_path(#p::At::root(__actuator_at.model)));
        let mut fields = Vec::new();
        match self.m.kind {
            Kind::Infra => {
                fields.push(field("inf", quote!(#path_ty), own));
                if let Some(ns) = &self.m.namespace {
                    let (ty, init) = paths_of(ns, quote!(Namespace));
                    fields.push(field("ns", ty, init));
                }
            }
            Kind::Namespace | Kind::RoleGroup => {
                if self.m.kind == Kind::Namespace {
                    fields.push(field("ns", quote!(#path_ty), own));
                }
                if let Some(inf) = &self.m.bound {
                    let (ty, init) = paths_of(inf, quote!(Infra));
                    fields.push(field("inf", ty, init));
                }
            }
            Kind::Config => {
                fields.push(field("cfg", quote!(#path_ty), own));
                if let Some(ns) = &self.m.bound {
                    let (ty, init) = paths_of(ns, quote!(Namespace));
                    fields.push(field("ns", ty, init));
                    let infra = quote!(<#ns as #p::NamespaceModel>::Infra);
                    fields.push(field(
                        "inf",
                        quote!(<#infra as #p::Members>::Path),
                        quote!(#p::infra_path::<#infra>(__actuator_w)),
                    ));
                }
            }
            Kind::InfraGroup => {}
        }
        fields
    }

    fn nexus_struct(&self) -> TokenStream {
        let nexus_ty = &self.nexus_ty;
        let Model { vis, ident, .. } = self.m;
        let fields = self
            .nexus()
            .into_iter()
            .map(|(name, ty, _)| quote!(#[allow(missing_docs)] pub #name: #ty,));
        quote! {
            #[doc = ::core::concat!("`ctx.nexus` of [`", ::core::stringify!(#ident), "`]: the connected models.")]
            #[derive(Clone, Copy, Debug)]
            #vis struct #nexus_ty { #(#fields)* }
        }
    }

    /// Short names for the types every generated function repeats.
    fn aliases(&self) -> TokenStream {
        let Gen {
            a,
            path_ty,
            nexus_ty,
            ..
        } = self;
        let model = if self.m.kind.is_model() {
            quote!(#path_ty)
        } else {
            quote!(#a::Unbound)
        };
        quote! {
            type __ActuatorModel = #model;
            type __ActuatorNexus = #nexus_ty;
            type __ActuatorView = #a::Arc<#a::Within<#path_ty>>;
            type __ActuatorScope = #a::BuildScope<__ActuatorModel, __ActuatorNexus, __ActuatorView>;
            type __ActuatorCtx<'__actuator, __ActuatorT> = #a::Ctx<
                '__actuator,
                __ActuatorModel,
                __ActuatorNexus,
                <__ActuatorT as #a::Component>::View<__ActuatorView>,
            >;
            type __ActuatorMember<__ActuatorT> =
                #a::Member<__ActuatorT, __ActuatorModel, __ActuatorNexus, __ActuatorView>;
        }
    }

    /// The layout table (name, size and layout of each member) and the offsets computed from it
    /// once, at compile time.
    fn tables(&self) -> TokenStream {
        let a = &self.a;
        let n = self.m.comps.len();
        let rows = self.comps().map(|(_, r)| {
            let (ty, name) = (&r.ty, r.c.name.to_string());
            quote!(#a::Layout::of::<#ty>(#name))
        });
        quote! {
            const __ACTUATOR_LAYOUT: [#a::Layout; #n] = [ #(#rows),* ];
            const __ACTUATOR_OFFSETS: [u32; #n] = #a::offsets(&__ACTUATOR_LAYOUT);
        }
    }

    fn path_impls(&self) -> TokenStream {
        let Gen { a, path_ty, .. } = self;
        let ident = &self.m.ident;
        let at = match self.m.comps.first() {
            Some(first) => {
                let first = &first.name;
                quote!(#a::parent_of_first(#a::Located::at(&self.#first)))
            }
            None => quote!(self.__at),
        };
        quote! {
            impl #a::Located for #path_ty {
                fn at(&self) -> #a::At { #at }
            }
            impl #a::FromAt for #path_ty {
                fn from_at(at: #a::At) -> Self { <#ident as #a::Members>::members_path(at) }
            }
            impl ::core::fmt::Debug for #path_ty {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::write!(f, "{}@{:?}", ::core::stringify!(#ident), #a::Located::at(self))
                }
            }
            impl ::core::cmp::PartialEq for #path_ty {
                fn eq(&self, o: &Self) -> bool { #a::Located::at(self) == #a::Located::at(o) }
            }
            impl #a::IntoRef<#a::Group<#ident>> for #path_ty {
                fn into_ref(self) -> #a::Ref<#a::Group<#ident>> { #a::Ref::new(#a::Located::at(&self)) }
            }
        }
    }

    /// `Members`: the layout and the typed paths from the tables, and the build: a scope shared by
    /// every member, the variables, then the members, each through its table.
    ///
    /// The typed paths are a constant with every member placed nowhere (`UNPLACED`), which
    /// `members_path` copies and then places through a table of one small function per member (and
    /// per variable): no generated function is as long as the model.
    fn members_impl(&self) -> TokenStream {
        let Gen { a, path_ty, .. } = self;
        let ident = &self.m.ident;
        let n = self.m.comps.len();
        let unplaced = self.comps().map(|(_, r)| {
            let (name, ty) = (&r.c.name, &r.ty);
            quote!(#name: <#ty as #a::Component>::UNPLACED,)
        });
        let setters = self.comps().map(|(i, r)| {
            let (name, ty) = (&r.c.name, &r.ty);
            quote! {
                |__actuator_p, __actuator_at| __actuator_p.#name =
                    #a::path::<#ty>(__actuator_at, &__ACTUATOR_OFFSETS, #i)
            }
        });
        let (vars_unplaced, vars_table, vars_place) = if self.m.kind == Kind::Namespace {
            let vars_ty = &self.vars_ty;
            let names: Vec<&Ident> = self.var_names().collect();
            let strs: Vec<String> = names.iter().map(|v| v.to_string()).collect();
            let m = names.len();
            (
                quote!(v: #vars_ty { #( #names: #a::VarRef::new(#a::At::UNPLACED, #strs), )* },),
                quote! {
                    const __ACTUATOR_PLACE_VARS: [fn(&mut #vars_ty, #a::At); #m] = [ #(
                        |__actuator_v, __actuator_at| __actuator_v.#names = #a::VarRef::new(__actuator_at, #strs)
                    ),* ];
                },
                quote!(#a::place(&mut __actuator_p.v, __actuator_at, &__ACTUATOR_PLACE_VARS);),
            )
        } else {
            (quote!(), quote!(), quote!())
        };
        let vars_build = self
            .m
            .kind
            .has_vars()
            .then(|| quote!(__actuator_vars(__actuator_w, &__actuator_scope);));
        let (at_unplaced, at_place) = if self.m.comps.is_empty() {
            (
                quote!(__at: #a::At::UNPLACED,),
                quote!(__actuator_p.__at = __actuator_at;),
            )
        } else {
            (quote!(), quote!())
        };
        quote! {
            const __ACTUATOR_PLACE: [fn(&mut #path_ty, #a::At); #n] = [ #(#setters),* ];
            #vars_table
            impl #a::Members for #ident {
                type Path = #path_ty;
                const MEMBERS_SIZE: u32 = #a::total(&__ACTUATOR_LAYOUT);
                const UNPLACED: #path_ty = #path_ty { #at_unplaced #(#unplaced)* #vars_unplaced };
                fn layout_members(nodes: &mut ::std::vec::Vec<#a::Node>, me: u32) {
                    #a::layout_table(nodes, me, &__ACTUATOR_LAYOUT);
                }
                fn members_path(__actuator_at: #a::At) -> #path_ty {
                    let mut __actuator_p = <Self as #a::Members>::UNPLACED;
                    #at_place
                    #a::place(&mut __actuator_p, __actuator_at, &__ACTUATOR_PLACE);
                    #vars_place
                    __actuator_p
                }
                fn build_members<__ActuatorUp: #a::Up>(
                    __actuator_w: &#a::Shared,
                    __actuator_at: #a::At,
                    __actuator_view: #a::Within<#path_ty, __ActuatorUp>,
                ) {
                    let __actuator_scope: #a::Arc<__ActuatorScope> = #a::BuildScope::new(
                        __actuator_at,
                        __actuator_model(__actuator_at),
                        __actuator_nexus(__actuator_w, __actuator_at),
                        #a::Arc::new(#a::enclosed(__actuator_view)),
                    );
                    #vars_build
                    __actuator_members(__actuator_w, &__actuator_scope);
                }
            }
        }
    }

    /// What members see as `ctx.model` and `ctx.nexus`, each built by its own function (so the
    /// build's stack frame does not hold them).
    fn scope_fns(&self) -> TokenStream {
        let a = &self.a;
        let ident = &self.m.ident;
        let model = if self.m.kind.is_model() {
            quote!(<#ident as #a::Members>::members_path(#a::At::root(__actuator_at.model)))
        } else {
            quote!(#a::Unbound)
        };
        let inits = self
            .nexus()
            .into_iter()
            .map(|(name, _, init)| quote!(#name: #init));
        let nexus_ty = &self.nexus_ty;
        quote! {
            fn __actuator_model(__actuator_at: #a::At) -> __ActuatorModel {
                #model
            }
            fn __actuator_nexus(__actuator_w: &#a::Shared, __actuator_at: #a::At) -> __ActuatorNexus {
                #nexus_ty { #(#inits,)* }
            }
        }
    }

    /// The member table: each row is the member's offset and the function holding its expression.
    fn members_fn(&self) -> TokenStream {
        let a = &self.a;
        let rows = self.comps().map(|(i, r)| {
            let (ty, make) = (&r.ty, &r.make);
            quote! {
                &__ActuatorMember::<#ty>::new(__ACTUATOR_OFFSETS[#i], #make)
            }
        });
        quote! {
            fn __actuator_members(
                __actuator_w: &#a::Shared,
                __actuator_scope: &#a::Arc<__ActuatorScope>,
            ) {
                let __actuator_table: &[&dyn #a::BuildMember<__ActuatorScope>] =
                    const { &[ #(#rows),* ] };
                #a::build_table(__actuator_w, __actuator_scope, __actuator_table);
            }
        }
    }

    /// The bindings a component or variable expression sees besides `ctx`: `infra` in a namespace
    /// bound to an infra model, `ns` and `q` in a config model. They are references, not copies:
    /// the paths struct has a field per component, and LLVM splits a by-value copy of it (used or
    /// not) into one move per field in every generated function, components x components work in
    /// a release build (issue 15). Field access and method calls read through the reference.
    fn bindings(&self) -> TokenStream {
        match self.m.kind {
            Kind::Namespace | Kind::RoleGroup if self.m.bound.is_some() => {
                quote!(let infra = &ctx.nexus.inf;)
            }
            Kind::Config if self.m.bound.is_some() => {
                quote!(let ns = &ctx.nexus.ns; let q = &ctx.nexus.ns;)
            }
            _ => quote!(),
        }
    }

    /// One function per component: its expression, as a function of `ctx`.
    fn make_fns(&self) -> TokenStream {
        let bindings = self.bindings();
        // Without its namespace a config model's expressions cannot resolve `ns`; that is reported
        // once, on the model, and the expressions are not type-checked.
        let unresolved = self.m.kind == Kind::Config && self.m.bound.is_none();
        let fns = self.comps().map(|(_, r)| {
            let (c, ty, make) = (r.c, &r.ty, &r.make);
            let value = match &c.value {
                Value::Expr(e) if !unresolved => {
                    let (e, span) = expression(e);
                    quote_spanned!(span=> ::core::convert::Into::<#ty>::into(#e))
                }
                Value::Default if !unresolved => {
                    quote_spanned!(c.name.span()=> <#ty as ::core::default::Default>::default())
                }
                // Already reported: a placeholder of the component's type, never run.
                _ => {
                    let span = match &c.value {
                        Value::Expr(e) => expression(e).1,
                        _ => c.name.span(),
                    };
                    quote_spanned!(span=> ::core::unreachable!("component expression with a compile error"))
                }
            };
            quote! {
                fn #make(ctx: &__ActuatorCtx<'_, #ty>) -> #ty {
                    #bindings
                    #value
                }
            }
        });
        quote!(#(#fns)*)
    }

    /// The variable table of a namespace or role group (literals as data, other values as one
    /// function each, evaluated for each reader), and those functions.
    fn var_fns(&self) -> TokenStream {
        if !self.m.kind.has_vars() {
            return quote!();
        }
        let a = &self.a;
        let bindings = self.bindings();
        let mut fns = Vec::new();
        let rows: Vec<TokenStream> = self
            .m
            .vars
            .iter()
            .map(|v| {
                let VarDecl {
                    name,
                    value,
                    in_env,
                    secret,
                } = v;
                let name_str = name.to_string();
                let f = format_ident!("__actuator_var_{}", name);
                if *secret {
                    // Made once, without a reader: `ctx` is not in scope, a secret is the same
                    // for everyone.
                    fns.push(quote_spanned! {value.span()=>
                        fn #f() -> #a::Secret {
                            #a::Secret::new(#value)
                        }
                    });
                    return quote!(#a::VarDef::Secret { name: #name_str, in_env: #in_env, make: #f });
                }
                if let Expr::Lit(l) = value
                    && let Lit::Str(s) = &l.lit
                {
                    return quote!(#a::VarDef::Lit { name: #name_str, value: #s, in_env: #in_env });
                }
                let (e, _) = expression(value);
                fns.push(quote! {
                    fn #f(
                        ctx: &#a::Ctx<'_, __ActuatorModel, __ActuatorNexus, __ActuatorView>,
                    ) -> #a::VarValue {
                        #bindings
                        #a::VarValue::from(#e)
                    }
                });
                quote!(#a::VarDef::Lazy { name: #name_str, in_env: #in_env, make: #f })
            })
            .collect();
        quote! {
            fn __actuator_vars(
                __actuator_w: &#a::Shared,
                __actuator_scope: &#a::Arc<__ActuatorScope>,
            ) {
                let __actuator_table: &[#a::VarDef<__ActuatorModel, __ActuatorNexus, __ActuatorView>] =
                    const { &[ #(#rows),* ] };
                #a::var_table(__actuator_w, __actuator_scope, __actuator_table);
            }
            #(#fns)*
        }
    }

    /// A derive's fields are read by nobody but the macro: `offset_of!` marks each one used, so
    /// rustc's dead-code lint stays quiet without generating code.
    fn field_reads(&self) -> TokenStream {
        if self.m.emit_struct {
            return quote!();
        }
        let ident = &self.m.ident;
        let reads = self.m.comps.iter().map(|c| {
            let name = &c.name;
            quote!(
                const _: usize = ::core::mem::offset_of!(#ident, #name);
            )
        });
        quote!(#(#reads)*)
    }

    fn model_impl(&self) -> TokenStream {
        if !self.m.kind.is_model() {
            return quote!();
        }
        let p = &self.a;
        let ident = &self.m.ident;
        let kind = match self.m.kind {
            Kind::Infra => quote!(Infra),
            Kind::Namespace => quote!(Namespace),
            _ => quote!(Config),
        };
        let long_names = self.m.long_names;
        quote! {
            impl #p::Model for #ident {
                const KIND: #p::ModelKind = #p::ModelKind::#kind;
                const NAME: &'static str = ::core::stringify!(#ident);
                const LONG_NAMES: bool = #long_names;
                fn class_id() -> #p::ModelId {
                    static ID: ::std::sync::OnceLock<#p::ModelId> = ::std::sync::OnceLock::new();
                    *ID.get_or_init(#p::ModelId::fresh)
                }
            }
        }
    }

    /// What each kind of model adds: `instance`, and the namespace's or config's own trait.
    fn kind_impls(&self) -> TokenStream {
        let p = &self.a;
        let Model { vis, ident, .. } = self.m;
        match (self.m.kind, &self.m.bound) {
            (Kind::Infra, _) => {
                let declared = self.declared_namespace();
                quote! {
                #declared
                impl #ident {
                    /// Creates an instance of this infra model in a new system.
                    #vis fn instance(name: &str) -> #p::Instance<Self> {
                        #p::__instantiate::<Self>(#p::new_world(), name)
                    }
                }
                }
            }
            (Kind::Namespace, Some(inf)) => {
                // The infra's `#[infra(namespace = …)]`, if any, must name this namespace: the
                // error is at the infra's name after `for`.
                let agrees = quote_spanned! {inf.span()=>
                    const _: () = #p::namespace_admitted::<#ident, #inf>();
                };
                quote! {
                impl #p::NamespaceModel for #ident { type Infra = #inf; }
                #agrees
                impl #ident {
                    /// Creates an instance of this namespace, connected to `infra` (host references
                    /// into the infra create its keyed instances as needed).
                    #vis fn instance(name: &str, infra: &#p::Instance<#inf>) -> #p::Instance<Self> {
                        #p::__instantiate::<Self>(infra.world().clone(), name)
                    }
                }
                }
            }
            (Kind::Namespace, None) => quote! {
                impl #p::NamespaceModel for #ident { type Infra = #p::NoInfra; }
                impl #ident {
                    /// Creates an instance of this namespace (its hosts are names or addresses).
                    #vis fn instance(name: &str) -> #p::Instance<Self> {
                        #p::__instantiate::<Self>(#p::new_world(), name)
                    }
                }
            },
            (Kind::Config, Some(ns)) => self.config_impls(ns),
            // Namespace groups may hold variables (`RoleGroup::new(..).var(..)`); infra groups may not.
            (Kind::RoleGroup, _) => quote!(impl #p::NamespaceMembers for #ident {}),
            (Kind::InfraGroup, _) => self.declared_namespace(),
            _ => quote!(),
        }
    }

    /// An infra model's `#[infra(namespace = N)]` as a type (`Undeclared` without one), checked
    /// to be a namespace declared `for` this model: the error is at `N`.
    fn declared_namespace(&self) -> TokenStream {
        let p = &self.a;
        let ident = &self.m.ident;
        match &self.m.namespace {
            Some(ns) => {
                let check = quote_spanned! {ns.span()=>
                    const _: () = #p::namespace_of::<#ns, #ident>();
                };
                quote! {
                    impl #p::DeclaredNamespace for #ident { type Namespace = #ns; }
                    #check
                }
            }
            None => {
                quote!(impl #p::DeclaredNamespace for #ident { type Namespace = #p::Undeclared; })
            }
        }
    }

    /// For each `ConfigClassTask<C>` component, the check that `C` is a config model of this
    /// model's namespace `ns`: the error is at `C`.
    fn nesting_checks(&self, ns: &Type) -> TokenStream {
        let p = &self.a;
        let checks = self.m.comps.iter().filter_map(|c| {
            let Type::Path(tp) = &c.ty else { return None };
            let last = tp.path.segments.last()?;
            if last.ident != "ConfigClassTask" {
                return None;
            }
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            let Some(syn::GenericArgument::Type(inner)) = args.args.first() else {
                return None;
            };
            Some(quote_spanned! {inner.span()=>
                const _: () = #p::nests_in::<#inner, #ns>();
            })
        });
        quote!(#(#checks)*)
    }

    fn config_impls(&self, ns: &Type) -> TokenStream {
        let p = &self.a;
        let Model { vis, ident, .. } = self.m;
        let index: std::collections::HashMap<String, usize> = self
            .comps()
            .map(|(i, r)| (r.c.name.to_string(), i))
            .collect();
        // Edges between known tasks, as offsets; unknown names were reported by `check`.
        let edges: Vec<TokenStream> = check::dep_edges(&self.m.deps)
            .iter()
            .filter_map(|(a, b)| {
                let (a, b) = (index.get(&a.to_string())?, index.get(&b.to_string())?);
                Some(quote!((__ACTUATOR_OFFSETS[#a], __ACTUATOR_OFFSETS[#b])))
            })
            .collect();
        let n = edges.len();
        let (keys, values): (Vec<_>, Vec<_>) = self.m.defaults.iter().cloned().unzip();
        let nesting = self.nesting_checks(ns);
        quote! {
            #nesting
            const __ACTUATOR_EDGES: [(u32, u32); #n] = [ #(#edges),* ];
            impl #p::ConfigModel for #ident {
                type Namespace = #ns;
                #[allow(unused_variables)]
                fn defaults(__actuator_w: &#p::Shared) -> #p::ConfigDefaults {
                    let ns = <#ns as #p::Members>::members_path(#p::At::root(#p::model_id(__actuator_w, #p::ModelKind::Namespace)));
                    let q = ns;
                    #p::ConfigDefaults::default() #( .#keys(#values) )*
                }
                fn declared_edges(__actuator_at: #p::At) -> ::std::vec::Vec<(#p::At, #p::At)> {
                    #p::edge_table(__actuator_at, &__ACTUATOR_EDGES)
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
}

/// An expression's tokens, with `a[k]` rewritten where it occurs, and the span rustc reports
/// errors of the whole expression at (what `syn::spanned::Spanned` gives, without rendering the
/// expression a second time).
fn expression(e: &Expr) -> (TokenStream, Span) {
    let tokens = if rewrite::has_index(e) {
        rewrite::expr(e.clone()).into_token_stream()
    } else {
        e.into_token_stream()
    };
    let mut iter = tokens.clone().into_iter();
    let first = iter.next().map_or_else(Span::call_site, |t| t.span());
    let span = iter
        .last()
        .and_then(|t| first.join(t.span()))
        .unwrap_or(first);
    (tokens, span)
}

#[cfg(test)]
mod tests {
    //! The size of generated code, measured in tokens: it must grow linearly with the model.

    use proc_macro2::{TokenStream, TokenTree};
    use quote::{format_ident, quote};

    use crate::ctxt::Ctxt;
    use crate::ir::{Family, Kind};

    fn count(ts: TokenStream) -> usize {
        ts.into_iter()
            .map(|t| match t {
                TokenTree::Group(g) => 1 + count(g.stream()),
                _ => 1,
            })
            .sum()
    }

    /// Tokens generated for an infra model, a namespace and a config of `n` components each.
    fn generated(n: usize) -> [usize; 3] {
        let s: Vec<_> = (0..n).map(|i| format_ident!("s{i}")).collect();
        let infra: syn::DeriveInput = syn::parse2(quote! {
            struct Infra {
                #[component(Network::new("net"))]
                net: Network,
                #( #[component(Server::new("s", "debian-12").nics([ctx.model.net]))] #s: Server, )*
            }
        })
        .expect("derive input");
        let ns = quote! {
            struct Ns for Infra {
                #( #s: Role = Role::new("r").host_ref(infra.#s), )*
            }
        };
        let cfg = quote! {
            struct Cfg for Ns {
                #( #s: Task = PingTask::new("t").role(ns.#s), )*
                deps { #(#s)|* }
            }
        };
        let cx = Ctxt::new();
        let mut models = [
            crate::parse::derive_model(&cx, infra, Kind::Infra),
            crate::parse::macro_model(&cx, ns, Family::Namespace).expect("namespace"),
            crate::parse::macro_model(&cx, cfg, Family::Config).expect("config"),
        ];
        let sizes = models
            .iter_mut()
            .map(|m| {
                assert!(crate::check::model(&cx, m));
                count(super::model(m))
            })
            .collect::<Vec<_>>();
        assert!(
            cx.into_tokens().is_empty(),
            "the generated models are valid"
        );
        [sizes[0], sizes[1], sizes[2]]
    }

    #[test]
    fn generated_code_grows_linearly() {
        let (a, b) = (generated(250), generated(500));
        println!("tokens for 250 components: {a:?}; for 500: {b:?}");
        for (x, y) in a.into_iter().zip(b) {
            assert!(
                (y as f64) < 2.05 * x as f64,
                "doubling the model must at most double the generated code: {x} -> {y}"
            );
        }
    }
}
