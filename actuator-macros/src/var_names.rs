//! `!{NAME}` in a `config!` task, checked at compile time against the names its namespace
//! declares (issue 11, family 2).
//!
//! A config model cannot see its namespace's declaration (another macro call, maybe another
//! crate), so the names travel as a type: `namespace!` gives each namespace model and role group
//! a struct with one field per name it declares (`GridVarNames`), reached through
//! `actuator::namespace::DeclaresVars`; a group's names are reached from the names of the model
//! holding it through `Deref`. `config!` reads one field per `!{NAME}` of its string literals,
//! spanned at the literal, in a function that is never called. A misspelt name is then rustc's
//! own "no field `NAME` on type `GridVarNames`", at the user's string, with its "a field with a
//! similar name exists" help.
//!
//! The struct lives in a module of its own, so the field that carries the `Deref` chain's type is
//! private there and never listed among the available names.

use std::collections::BTreeSet;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::visit::Visit;
use syn::{
    Expr, ExprCall, ExprMethodCall, GenericArgument, Ident, Lit, LitStr, PathArguments, Type,
    Visibility,
};

use crate::ir::{Kind, Model, Value};

/// A variable name as a field identifier (a keyword as a raw one); `None` for a name no field
/// can have (such a name is left to the pre-flight).
fn field(name: &str, span: Span) -> Option<Ident> {
    if syn::parse_str::<Ident>(name).is_ok() {
        Some(Ident::new(name, span))
    } else if syn::parse_str::<Ident>(&format!("r#{name}")).is_ok() {
        Some(Ident::new_raw(name, span))
    } else {
        None
    }
}

/// The names struct of a namespace model or role group (a public item of the model).
pub fn declaration(m: &Model) -> TokenStream {
    if !m.kind.has_vars() {
        return quote!();
    }
    let vis = &m.vis;
    let ty = names_ty(m);
    let module = format_ident!("__actuator_var_names_{}", m.ident);
    let inner_vis = inner_vis(vis);
    let fields = declared(m)
        .into_iter()
        .filter_map(|n| field(&n, Span::call_site()));
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #module {
            #[doc(hidden)]
            #[allow(non_snake_case, dead_code, missing_docs)]
            #inner_vis struct #ty<__ActuatorNext = ()> {
                #( pub #fields: (), )*
                __actuator_next: ::core::marker::PhantomData<__ActuatorNext>,
            }
        }
        #[doc(hidden)]
        #vis use #module::#ty;
    }
}

/// `DeclaresVars` for a namespace model or role group, and the `Deref` to the names of the groups
/// it holds (inside the model's `const _` block).
pub fn impls(m: &Model) -> TokenStream {
    if !m.kind.has_vars() {
        return quote!();
    }
    let (ident, ty) = (&m.ident, names_ty(m));
    let next = quote!(__ActuatorNext);
    let target = groups(m).iter().rev().fold(
        next.clone(),
        |inner, g| quote!(<#g as __actuator::DeclaresVars>::VarNames<#inner>),
    );
    quote! {
        impl __actuator::DeclaresVars for #ident {
            type VarNames<#next> = #ty<#next>;
        }
        impl<#next> ::core::ops::Deref for #ty<#next> {
            type Target = #target;
            fn deref(&self) -> &Self::Target {
                ::core::unreachable!("variable names are a type only: nothing makes a value of it")
            }
        }
    }
}

/// The check of a config model: one field read per `!{NAME}` of each string literal of its
/// tasks and defaults, spanned at the literal (inside the model's `const _` block).
pub fn config_check(m: &Model) -> TokenStream {
    let (Kind::Config, Some(ns)) = (m.kind, &m.bound) else {
        return quote!();
    };
    let mut t = Templates::default();
    for c in &m.comps {
        if let Value::Expr(e) = &c.value {
            t.visit_expr(e);
        }
    }
    for (_, e) in &m.defaults {
        t.visit_expr(e);
    }
    let mut reads = Vec::new();
    for lit in &t.found {
        let text = lit.value();
        let names: BTreeSet<&str> = actuator_template::names(&text).map(|(n, _)| n).collect();
        for f in names.into_iter().filter_map(|n| field(n, lit.span())) {
            reads.push(quote_spanned!(lit.span()=> let _ = &__actuator_names.#f;));
        }
    }
    if reads.is_empty() {
        return quote!();
    }
    quote! {
        #[allow(dead_code)]
        fn __actuator_config_var_names(
            __actuator_names: <#ns as __actuator::DeclaresVars>::VarNames<()>,
        ) {
            #(#reads)*
        }
    }
}

/// The model's visibility, said from inside the names struct's module (one level down): the
/// struct is exactly as visible as the model, so the group types in its `Deref` target need be
/// no more visible than the model that holds them.
fn inner_vis(vis: &Visibility) -> TokenStream {
    match vis {
        Visibility::Public(_) => quote!(pub),
        Visibility::Restricted(r) if r.path.is_ident("crate") => quote!(pub(crate)),
        Visibility::Restricted(r) if r.path.is_ident("super") => quote!(pub(in super::super)),
        Visibility::Restricted(r)
            if r.path.segments.first().is_some_and(|s| s.ident == "crate") =>
        {
            quote!(#vis)
        }
        // Private (or `pub(self)`, or a path said from the model's module): the model's module.
        _ => quote!(pub(super)),
    }
}

fn names_ty(m: &Model) -> Ident {
    format_ident!("{}VarNames", m.ident)
}

/// Every name the model declares: `vars { }`, `extern { }`, and the literal names of
/// `.var("NAME", …)` / `.hidden_var("NAME", …)` in its members' and variables' expressions.
fn declared(m: &Model) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = m.vars.iter().map(|v| v.name.to_string()).collect();
    names.extend(m.externs.iter().map(Ident::to_string));
    let mut v = VarCalls(&mut names);
    for var in &m.vars {
        v.visit_expr(&var.value);
    }
    for c in &m.comps {
        if let Value::Expr(e) = &c.value {
            v.visit_expr(e);
        }
    }
    names
}

struct VarCalls<'a>(&'a mut BTreeSet<String>);

impl<'ast> Visit<'ast> for VarCalls<'_> {
    fn visit_expr_method_call(&mut self, c: &'ast ExprMethodCall) {
        if (c.method == "var" || c.method == "hidden_var")
            && let Some(Expr::Lit(l)) = c.args.first()
            && let Lit::Str(s) = &l.lit
        {
            self.0.insert(s.value());
        }
        syn::visit::visit_expr_method_call(self, c);
    }
}

/// The group types of the model's members: `G` of `RoleGroup<G>` and `MultiRoleGroup<G>`.
fn groups(m: &Model) -> Vec<&Type> {
    m.comps
        .iter()
        .filter_map(|c| {
            let Type::Path(p) = &c.ty else { return None };
            let last = p.path.segments.last()?;
            if last.ident != "RoleGroup" && last.ident != "MultiRoleGroup" {
                return None;
            }
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            match args.args.first()? {
                GenericArgument::Type(t) if args.args.len() == 1 => Some(t),
                _ => None,
            }
        })
        .collect()
}

/// The string literals of a config model that are expanded for a task's role and hold a
/// `!{NAME}`. Left out, because they are never expanded: a task's name (the first argument of
/// `…Task::new` / `…Task::argv`), a local source path (`.src(…)`), and the inline content of a
/// copy that is not templated (`.content(…)` without `ProcessCopyFileTask` or `.templated()`).
#[derive(Default)]
struct Templates {
    found: Vec<LitStr>,
    /// Inside the receiver chain of a method call.
    in_chain: bool,
    /// The chain being visited expands its content.
    templated: bool,
}

impl Templates {
    /// Whether the method-call chain ending in `c` is a templated copy.
    fn templated(c: &ExprMethodCall) -> bool {
        let mut e = c;
        loop {
            if e.method == "templated" {
                return true;
            }
            match &*e.receiver {
                Expr::MethodCall(r) => e = r,
                Expr::Call(call) => {
                    return task_ctor(call).is_some_and(|t| t == "ProcessCopyFileTask");
                }
                _ => return false,
            }
        }
    }
}

/// The task type of a `…Task::new(…)` or `…Task::argv(…)` call.
fn task_ctor(call: &ExprCall) -> Option<String> {
    let Expr::Path(p) = &*call.func else {
        return None;
    };
    let segs: Vec<_> = p.path.segments.iter().collect();
    let [.., ty, f] = segs.as_slice() else {
        return None;
    };
    let ty = ty.ident.to_string();
    (ty.ends_with("Task") && (f.ident == "new" || f.ident == "argv")).then_some(ty)
}

impl<'ast> Visit<'ast> for Templates {
    fn visit_lit_str(&mut self, l: &'ast LitStr) {
        if actuator_template::parse(&l.value()).has_vars() {
            self.found.push(l.clone());
        }
    }
    fn visit_expr_call(&mut self, c: &'ast ExprCall) {
        let in_chain = std::mem::replace(&mut self.in_chain, false);
        let skip_name = task_ctor(c).is_some();
        for (i, a) in c.args.iter().enumerate() {
            if !(skip_name && i == 0) {
                self.visit_expr(a);
            }
        }
        self.in_chain = in_chain;
    }
    fn visit_expr_method_call(&mut self, c: &'ast ExprMethodCall) {
        let outer = !self.in_chain;
        let templated = self.templated;
        if outer {
            self.templated = Templates::templated(c);
        }
        self.in_chain = true;
        self.visit_expr(&c.receiver);
        self.in_chain = false;
        let skip = c.method == "src" || (c.method == "content" && !self.templated);
        if !skip {
            for a in &c.args {
                self.visit_expr(a);
            }
        }
        self.in_chain = !outer;
        if outer {
            self.templated = templated;
        }
    }
}
