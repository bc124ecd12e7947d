//! Parsing: derive input and the `namespace!` / `config!` syntax into [`crate::ir::Model`].

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Data, DeriveInput, Expr, Fields, Ident, Token, Type, Visibility, braced};

use crate::ctxt::Ctxt;
use crate::ir::{Comp, Dep, Family, Kind, Model, VarDecl};

/// The parse result: a model (possibly partial) and the errors found on the way.
pub struct Parsed {
    pub model: Option<Model>,
    pub cx: Ctxt,
}

pub fn from_derive(input: DeriveInput, kind: Kind) -> Parsed {
    let cx = Ctxt::default();
    let mut model = Model {
        kind,
        attrs: Vec::new(),
        vis: input.vis.clone(),
        ident: input.ident.clone(),
        bound: None,
        namespace: None,
        long_names: false,
        vars: Vec::new(),
        externs: Vec::new(),
        comps: Vec::new(),
        deps: Vec::new(),
        emit_struct: false,
    };
    if !input.generics.params.is_empty() {
        cx.error(
            &input.generics,
            "models cannot be generic: their typed paths are generated per concrete type",
        );
    }
    for attr in &input.attrs {
        if attr.path().is_ident("infra") {
            let r = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("long_names") {
                    model.long_names = true;
                    Ok(())
                } else if meta.path.is_ident("namespace") {
                    model.namespace = Some(meta.value()?.parse()?);
                    Ok(())
                } else {
                    Err(meta
                        .error("unknown infra option; expected `long_names` or `namespace = Type`"))
                }
            });
            if let Err(e) = r {
                cx.push(e);
            }
        }
    }
    let fields = match input.data {
        Data::Struct(s) => match s.fields {
            Fields::Named(f) => f.named,
            other => {
                cx.error(
                    &other,
                    "a model is a struct with named fields, one per component",
                );
                Punctuated::new()
            }
        },
        _ => {
            cx.error(&input.ident, "a model must be a struct with named fields");
            Punctuated::new()
        }
    };
    for f in fields {
        let Some(name) = f.ident.clone() else {
            continue;
        };
        let attr = f.attrs.iter().find(|a| a.path().is_ident("component"));
        let Some(attr) = attr else {
            cx.error(
                &name,
                format_args!(
                    "field `{name}` has no `#[component(...)]` attribute; every field of a model is a component"
                ),
            );
            continue;
        };
        let expr = match &attr.meta {
            syn::Meta::Path(_) => None,
            syn::Meta::List(l) => match l.parse_args::<Expr>() {
                Ok(e) => Some(e),
                Err(e) => {
                    cx.push(e);
                    None
                }
            },
            syn::Meta::NameValue(nv) => {
                cx.error(
                    nv,
                    "write `#[component(expression)]`, not `#[component = ...]`",
                );
                None
            }
        };
        model.comps.push(Comp {
            name,
            ty: f.ty,
            expr,
            attrs: Vec::new(),
        });
    }
    Parsed {
        model: Some(model),
        cx,
    }
}

pub fn from_macro(input: TokenStream, family: Family) -> Parsed {
    let cx = Ctxt::default();
    match syn::parse2::<MacroModel>(input) {
        Ok(m) => {
            let kind = match (family, m.group) {
                (Family::Namespace, false) => Kind::Namespace,
                (Family::Namespace, true) => Kind::RoleGroup,
                (Family::Config, _) => Kind::Config,
            };
            if family == Family::Config && m.group {
                cx.error(
                    &m.ident,
                    "config models are declared with `struct`, not `group`",
                );
            }
            if family == Family::Config && !m.vars.is_empty() {
                cx.error(
                    &m.vars[0].name,
                    "variables belong to namespace models, not config models",
                );
            }
            if family == Family::Namespace && !m.deps.is_empty() {
                cx.error(&m.ident, "`deps { }` belongs to config models");
            }
            if kind == Kind::Config && m.bound.is_none() {
                cx.error(
                    &m.ident,
                    "a config model names its namespace: `struct Name for MyNamespace { … }`",
                );
            }
            Parsed {
                model: Some(Model {
                    kind,
                    attrs: m.attrs,
                    vis: m.vis,
                    ident: m.ident,
                    bound: m.bound,
                    namespace: None,
                    long_names: false,
                    vars: m.vars,
                    externs: m.externs,
                    comps: m.comps,
                    deps: m.deps,
                    emit_struct: true,
                }),
                cx,
            }
        }
        Err(e) => {
            cx.push(e);
            Parsed { model: None, cx }
        }
    }
}

struct MacroModel {
    attrs: Vec<Attribute>,
    vis: Visibility,
    group: bool,
    ident: Ident,
    bound: Option<Type>,
    vars: Vec<VarDecl>,
    externs: Vec<Ident>,
    comps: Vec<Comp>,
    deps: Vec<Dep>,
}

mod kw {
    syn::custom_keyword!(group);
    syn::custom_keyword!(vars);
    syn::custom_keyword!(deps);
    syn::custom_keyword!(hidden);
}

impl Parse for MacroModel {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let group = if input.peek(kw::group) {
            input.parse::<kw::group>()?;
            true
        } else if input.peek(Token![struct]) {
            input.parse::<Token![struct]>()?;
            false
        } else {
            return Err(input.error("expected `struct Name { … }` or `group Name { … }`"));
        };
        let ident: Ident = input.parse()?;
        let bound = if input.peek(Token![for]) {
            input.parse::<Token![for]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        let body;
        braced!(body in input);
        let (mut vars, mut externs, mut comps, mut deps) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        while !body.is_empty() {
            if body.peek(kw::vars) && body.peek2(syn::token::Brace) {
                body.parse::<kw::vars>()?;
                let inner;
                braced!(inner in body);
                while !inner.is_empty() {
                    let in_env = if inner.peek(kw::hidden) {
                        inner.parse::<kw::hidden>()?;
                        false
                    } else {
                        true
                    };
                    let name: Ident = inner.parse()?;
                    inner.parse::<Token![=]>()?;
                    let value: Expr = inner.parse()?;
                    vars.push(VarDecl {
                        name,
                        value,
                        in_env,
                    });
                    if !inner.is_empty() {
                        inner.parse::<Token![,]>()?;
                    }
                }
            } else if body.peek(Token![extern]) {
                body.parse::<Token![extern]>()?;
                let inner;
                braced!(inner in body);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated(&inner)?;
                externs.extend(names);
            } else if body.peek(kw::deps) && body.peek2(syn::token::Brace) {
                body.parse::<kw::deps>()?;
                let inner;
                braced!(inner in body);
                while !inner.is_empty() {
                    deps.push(parse_dep(&inner)?);
                    if !inner.is_empty() {
                        inner.parse::<Token![,]>()?;
                    }
                }
            } else {
                let attrs = body.call(Attribute::parse_outer)?;
                let name: Ident = body.parse()?;
                body.parse::<Token![:]>()?;
                let ty: Type = body.parse()?;
                let expr = if body.peek(Token![=]) {
                    body.parse::<Token![=]>()?;
                    Some(body.parse::<Expr>()?)
                } else {
                    None
                };
                comps.push(Comp {
                    name,
                    ty,
                    expr,
                    attrs,
                });
                if !body.is_empty() {
                    body.parse::<Token![,]>()?;
                }
            }
        }
        Ok(MacroModel {
            attrs,
            vis,
            group,
            ident,
            bound,
            vars,
            externs,
            comps,
            deps,
        })
    }
}

// `a | b & c`: `&` binds tighter than `|`, as in Rust and in the original's Python operators.
fn parse_dep(input: ParseStream) -> syn::Result<Dep> {
    let mut lhs = parse_par(input)?;
    while input.peek(Token![|]) && !input.peek(Token![||]) {
        input.parse::<Token![|]>()?;
        let rhs = parse_par(input)?;
        lhs = Dep::Seq(Box::new(lhs), Box::new(rhs));
    }
    Ok(lhs)
}

fn parse_par(input: ParseStream) -> syn::Result<Dep> {
    let mut lhs = parse_atom(input)?;
    while input.peek(Token![&]) && !input.peek(Token![&&]) {
        input.parse::<Token![&]>()?;
        let rhs = parse_atom(input)?;
        lhs = Dep::Par(Box::new(lhs), Box::new(rhs));
    }
    Ok(lhs)
}

fn parse_atom(input: ParseStream) -> syn::Result<Dep> {
    if input.peek(syn::token::Paren) {
        let inner;
        syn::parenthesized!(inner in input);
        let d = parse_dep(&inner)?;
        if !inner.is_empty() {
            return Err(inner.error("expected `|`, `&` or `)` in a dependency expression"));
        }
        Ok(d)
    } else if input.peek(Ident) {
        Ok(Dep::Task(input.parse()?))
    } else {
        Err(input.error("expected a task name or `(` in a dependency expression"))
    }
}
