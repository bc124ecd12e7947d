//! Parsing: derive input and the `namespace!` / `config!` syntax into [`crate::ir::Model`].

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream, Parser};
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
        defaults: Vec::new(),
        broken: Vec::new(),
        emit_struct: false,
    };
    // Generated items name the model without generics, so a generic model gets the error alone.
    let generic = !input.generics.params.is_empty();
    if generic {
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
        // A component whose attribute is malformed stays declared (with a placeholder value), so
        // paths to it still type-check: one mistake, one error.
        let (expr, invalid) = match &attr.meta {
            syn::Meta::Path(_) => (None, false),
            syn::Meta::List(l) => match l.parse_args::<Expr>() {
                Ok(e) => (Some(e), false),
                Err(e) => {
                    cx.push(e);
                    (None, true)
                }
            },
            syn::Meta::NameValue(nv) => {
                cx.error(
                    nv,
                    "write `#[component(expression)]`, not `#[component = ...]`",
                );
                (None, true)
            }
        };
        model.comps.push(Comp {
            name,
            ty: f.ty,
            expr,
            attrs: Vec::new(),
            invalid,
        });
    }
    Parsed {
        model: (!generic).then_some(model),
        cx,
    }
}

pub fn from_macro(input: TokenStream, family: Family) -> Parsed {
    let cx = Ctxt::default();
    // The body recovers from a malformed item and goes on, so the items are still emitted. syn then
    // also reports the tokens a failed nested parse left unread; that repeats an error already
    // recorded, so it is dropped when the body recovered from one.
    let mut parsed: Option<MacroModel> = None;
    let result = (|input: ParseStream| {
        parsed = Some(input.parse()?);
        Ok(())
    })
    .parse2(input);
    let Some(mut m) = parsed else {
        if let Err(e) = result {
            cx.push(e);
        }
        return Parsed { model: None, cx };
    };
    if let Err(e) = result
        && m.errors.is_empty()
    {
        m.errors.push(e);
    }
    for e in m.errors.drain(..) {
        cx.push(e);
    }
    let kind = match (family, m.group.is_some()) {
        (Family::Namespace, false) => Kind::Namespace,
        (Family::Namespace, true) => Kind::RoleGroup,
        (Family::Config, _) => Kind::Config,
    };
    if family == Family::Config
        && let Some(group) = m.group
    {
        cx.push(syn::Error::new(
            group,
            "config models are declared with `struct`, not `group`",
        ));
    }
    if family == Family::Config
        && let Some(vars) = m.vars_kw
    {
        cx.push(syn::Error::new(
            vars,
            "variables belong to namespace models, not config models",
        ));
    }
    if family == Family::Namespace
        && let Some(deps) = m.deps_kw
    {
        cx.push(syn::Error::new(deps, "`deps { }` belongs to config models"));
    }
    if family == Family::Namespace
        && let Some((key, _)) = m.defaults.first()
    {
        cx.error(key, "`defaults { }` belongs to config models");
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
            defaults: m.defaults,
            broken: m.broken,
            emit_struct: true,
        }),
        cx,
    }
}

struct MacroModel {
    attrs: Vec<Attribute>,
    vis: Visibility,
    /// The `group` keyword, if the model was declared with it.
    group: Option<Span>,
    ident: Ident,
    bound: Option<Type>,
    vars: Vec<VarDecl>,
    vars_kw: Option<Span>,
    externs: Vec<Ident>,
    comps: Vec<Comp>,
    deps: Vec<Dep>,
    deps_kw: Option<Span>,
    defaults: Vec<(Ident, Expr)>,
    broken: Vec<Ident>,
    /// Errors in the body's items, each followed by recovery at the next `,`.
    errors: Vec<syn::Error>,
}

mod kw {
    syn::custom_keyword!(group);
    syn::custom_keyword!(vars);
    syn::custom_keyword!(deps);
    syn::custom_keyword!(defaults);
    syn::custom_keyword!(hidden);
}

/// After a malformed item: skips to just past the next `,` of this level (or to the end).
fn skip_item(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            rest = next;
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
        }
        Ok(((), rest))
    });
}

/// Parses `item , item , …` up to the end of `input`, recovering from a malformed item at the
/// next `,`; a missing `,` before something that starts an item is reported and parsing goes on.
fn items(
    input: ParseStream,
    errors: &mut Vec<syn::Error>,
    mut item: impl FnMut(ParseStream) -> syn::Result<()>,
    starts_item: impl Fn(ParseStream) -> bool,
) {
    while !input.is_empty() {
        if let Err(e) = item(input) {
            errors.push(e);
            skip_item(input);
            continue;
        }
        if input.is_empty() {
            break;
        }
        if input.peek(Token![,]) {
            let _ = input.parse::<Token![,]>();
        } else if starts_item(input) {
            errors.push(input.error("expected `,`"));
        } else {
            errors.push(input.error("expected `,`"));
            skip_item(input);
        }
    }
}

fn starts_named_item(input: ParseStream) -> bool {
    input.peek(Ident) || input.peek(Token![#])
}

impl Parse for MacroModel {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let group = if input.peek(kw::group) {
            Some(input.parse::<kw::group>()?.span)
        } else if input.peek(Token![struct]) {
            input.parse::<Token![struct]>()?;
            None
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
        let mut m = MacroModel {
            attrs,
            vis,
            group,
            ident,
            bound,
            vars: Vec::new(),
            vars_kw: None,
            externs: Vec::new(),
            comps: Vec::new(),
            deps: Vec::new(),
            deps_kw: None,
            defaults: Vec::new(),
            broken: Vec::new(),
            errors: Vec::new(),
        };
        let mut errors = Vec::new();
        // `vars { }`, `extern { }` and `deps { }` blocks need no `,` after them.
        let block = |input: ParseStream| {
            (input.peek(kw::vars) || input.peek(kw::deps) || input.peek(kw::defaults))
                && input.peek2(syn::token::Brace)
                || input.peek(Token![extern])
        };
        items(
            &body,
            &mut errors,
            |body| {
                while block(body) {
                    if body.peek(kw::vars) {
                        let kw = body.parse::<kw::vars>()?;
                        m.vars_kw.get_or_insert(kw.span);
                        let inner;
                        braced!(inner in body);
                        items(
                            &inner,
                            &mut m.errors,
                            |i| parse_var(i, &mut m.vars),
                            starts_named_item,
                        );
                    } else if body.peek(kw::defaults) {
                        body.parse::<kw::defaults>()?;
                        let inner;
                        braced!(inner in body);
                        let defaults = &mut m.defaults;
                        items(
                            &inner,
                            &mut m.errors,
                            |i| {
                                let key: Ident = i.parse()?;
                                i.parse::<Token![=]>()?;
                                defaults.push((key, i.parse()?));
                                Ok(())
                            },
                            starts_named_item,
                        );
                    } else if body.peek(Token![extern]) {
                        body.parse::<Token![extern]>()?;
                        let inner;
                        braced!(inner in body);
                        let names = Punctuated::<Ident, Token![,]>::parse_terminated(&inner)?;
                        m.externs.extend(names);
                    } else {
                        let kw = body.parse::<kw::deps>()?;
                        m.deps_kw.get_or_insert(kw.span);
                        let inner;
                        braced!(inner in body);
                        let deps = &mut m.deps;
                        items(
                            &inner,
                            &mut m.errors,
                            |i| {
                                deps.push(parse_dep(i)?);
                                Ok(())
                            },
                            |i| i.peek(Ident) || i.peek(syn::token::Paren),
                        );
                    }
                }
                if body.is_empty() {
                    return Ok(());
                }
                parse_comp(body, &mut m.comps, &mut m.broken)
            },
            |body| starts_named_item(body) || block(body),
        );
        m.errors.extend(errors);
        Ok(m)
    }
}

fn parse_var(input: ParseStream, vars: &mut Vec<VarDecl>) -> syn::Result<()> {
    let in_env = if input.peek(kw::hidden) && !input.peek2(Token![=]) {
        input.parse::<kw::hidden>()?;
        false
    } else {
        true
    };
    let name: Ident = input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), "expected a variable name (an identifier)"))?;
    input.parse::<Token![=]>()?;
    // A malformed value keeps the variable declared (as ""), so templates naming it are no error.
    let value = input.parse::<Expr>();
    vars.push(VarDecl {
        name,
        value: value
            .as_ref()
            .cloned()
            .unwrap_or_else(|_| syn::parse_quote!("")),
        in_env,
    });
    value.map(drop)
}

/// `name: Type = expr` or `name: Type`. A component whose expression is malformed stays declared;
/// one whose name parsed but not its type is remembered as broken.
fn parse_comp(
    input: ParseStream,
    comps: &mut Vec<Comp>,
    broken: &mut Vec<Ident>,
) -> syn::Result<()> {
    let attrs = input.call(Attribute::parse_outer)?;
    let name: Ident = input.parse()?;
    let ty = input
        .parse::<Token![:]>()
        .and_then(|_| input.parse::<Type>())
        .inspect_err(|_| broken.push(name.clone()))?;
    let mut comp = Comp {
        name,
        ty,
        expr: None,
        attrs,
        invalid: false,
    };
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        match input.parse::<Expr>() {
            Ok(e) => comp.expr = Some(e),
            Err(e) => {
                comp.invalid = true;
                comps.push(comp);
                return Err(e);
            }
        }
    }
    comps.push(comp);
    Ok(())
}

// `a | b & c`: `&` binds tighter than `|`, as in Rust and in the original's Python operators.
fn parse_dep(input: ParseStream) -> syn::Result<Dep> {
    let mut lhs = parse_par(input)?;
    while input.peek(Token![|]) && !input.peek(Token![||]) {
        input.parse::<Token![|]>()?;
        let rhs = parse_par(input)?;
        lhs = Dep::Seq(Box::new(lhs), Box::new(rhs));
    }
    if input.peek(Token![||]) {
        return Err(input.error(
            "`||` is not a dependency operator; write `a | b` (a before b) or `a & b` (together)",
        ));
    }
    if input.peek(Token![&&]) {
        return Err(input.error(
            "`&&` is not a dependency operator; write `a & b` (together) or `a | b` (a before b)",
        ));
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
