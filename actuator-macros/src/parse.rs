//! Parsing: derive input and the `namespace!` / `config!` syntax into the IR ([`crate::ir`]).
//!
//! Only syntax is reported here — what cannot be read into the IR. Everything that can be read but
//! is not allowed (a generic model, a field without `#[component]`, `group` on a config model, an
//! unknown option …) is recorded in the IR and reported by `check`.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::visit_mut::VisitMut;
use syn::{Attribute, Data, DeriveInput, Expr, Fields, Ident, Token, Type, Visibility, braced};

use crate::ctxt::Ctxt;
use crate::ir::{
    Comp, Dep, Family, Kind, Model, Resource, ResourceField, Shape, Unknown, Value, VarDecl,
};

const INFRA_OPTIONS: &str = "unknown infra option; expected `long_names` or `namespace = Type`";
const RESOURCE_OPTIONS: &str = "expected `kind = \"…\"`, `outputs(name: Type, …)`, `addressable`, `update(arg, …)` or `create_before_destroy`";
const RESOURCE_FIELD_OPTIONS: &str = "unknown resource field option; expected `skip`";

/// Skips the value of an unknown option (`= …` or `(…)`), up to the next `,` of its list, so the
/// options after it are still read.
fn skip_option_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

fn shape(data: &Data) -> (Shape, Vec<&syn::Field>) {
    match data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => (Shape::Named, f.named.iter().collect()),
            other => (Shape::Unnamed(quote::quote!(#other)), Vec::new()),
        },
        _ => (Shape::NotStruct, Vec::new()),
    }
}

/// `#[derive(InfraModel)]` and `#[derive(ResourceGroup)]`.
pub fn derive_model(cx: &Ctxt, input: DeriveInput, kind: Kind) -> Model {
    let mut model = Model::new(kind, input.vis.clone(), input.ident.clone(), false);
    model.generics = input.generics.clone();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("infra")) {
        let r = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("long_names") {
                model.long_names = true;
            } else if meta.path.is_ident("namespace") {
                model.namespace = Some(meta.value()?.parse()?);
            } else {
                model.unknown.push(Unknown {
                    path: meta.path.clone(),
                    expected: INFRA_OPTIONS,
                });
                skip_option_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            cx.push(e);
        }
    }
    let (shape, fields) = shape(&input.data);
    model.shape = shape;
    for f in fields {
        let Some(name) = f.ident.clone() else {
            continue;
        };
        // A component whose attribute is malformed stays declared (with a placeholder value), so
        // paths to it still type-check: one mistake, one error.
        let value = match f.attrs.iter().find(|a| a.path().is_ident("component")) {
            None => Value::Missing,
            Some(attr) => match &attr.meta {
                syn::Meta::Path(_) => Value::Default,
                syn::Meta::List(l) => match l.parse_args::<Expr>() {
                    Ok(e) => Value::Expr(e),
                    Err(e) => {
                        cx.push(e);
                        Value::Invalid
                    }
                },
                syn::Meta::NameValue(nv) => Value::Assigned(nv.clone()),
            },
        };
        model.comps.push(Comp {
            name,
            ty: f.ty.clone(),
            value,
            attrs: Vec::new(),
        });
    }
    model
}

/// `namespace! { … }` and `config! { … }`; `None` when not even the declaration could be read.
pub fn macro_model(cx: &Ctxt, input: TokenStream, family: Family) -> Option<Model> {
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
        return None;
    };
    if let Err(e) = result
        && m.errors.is_empty()
    {
        m.errors.push(e);
    }
    for e in m.errors.drain(..) {
        cx.push(e);
    }
    let kind = match (family, m.group) {
        (Family::Namespace, None) => Kind::Namespace,
        (Family::Namespace, Some(_)) => Kind::RoleGroup,
        (Family::Config, _) => Kind::Config,
    };
    let mut model = Model::new(kind, m.vis, m.ident, true);
    model.attrs = m.attrs;
    model.group_kw = m.group;
    model.bound = m.bound;
    model.vars_kw = m.vars_kw;
    model.vars = m.vars;
    model.externs = m.externs;
    model.comps = m.comps;
    model.deps_kw = m.deps_kw;
    model.deps = m.deps;
    model.defaults_kw = m.defaults_kw;
    model.defaults = m.defaults;
    model.broken = m.broken;
    Some(model)
}

/// `#[derive(Resource)]`.
pub fn resource(cx: &Ctxt, input: &DeriveInput) -> Resource {
    let (shape, fields) = shape(&input.data);
    let mut r = Resource {
        vis: input.vis.clone(),
        ident: input.ident.clone(),
        shape,
        kind: None,
        outputs: Vec::new(),
        addressable: false,
        update: Vec::new(),
        create_before_destroy: false,
        fields: Vec::new(),
        unknown: Vec::new(),
    };
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("resource")) {
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("kind") {
                r.kind = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("addressable") {
                r.addressable = true;
            } else if meta.path.is_ident("create_before_destroy") {
                r.create_before_destroy = true;
            } else if meta.path.is_ident("update") {
                meta.parse_nested_meta(|u| {
                    r.update.push(u.path.require_ident()?.clone());
                    Ok(())
                })?;
            } else if meta.path.is_ident("outputs") {
                meta.parse_nested_meta(|o| {
                    let name = o.path.require_ident()?.clone();
                    o.input.parse::<Token![:]>()?;
                    let mut ty: Type = o.input.parse()?;
                    // `Id<Self>` names the resource, not the path struct the output lands in.
                    SelfIs(&input.ident).visit_type_mut(&mut ty);
                    r.outputs.push((name, ty));
                    Ok(())
                })?;
            } else {
                r.unknown.push(Unknown {
                    path: meta.path.clone(),
                    expected: RESOURCE_OPTIONS,
                });
                skip_option_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = res {
            cx.push(e);
        }
    }
    for f in fields {
        let Some(ident) = f.ident.clone() else {
            continue;
        };
        let mut skip = false;
        for attr in f.attrs.iter().filter(|a| a.path().is_ident("resource")) {
            let res = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("skip") {
                    skip = true;
                } else {
                    r.unknown.push(Unknown {
                        path: meta.path.clone(),
                        expected: RESOURCE_FIELD_OPTIONS,
                    });
                    skip_option_value(&meta)?;
                }
                Ok(())
            });
            if let Err(e) = res {
                cx.push(e);
            }
        }
        r.fields.push(ResourceField {
            ident,
            ty: f.ty.clone(),
            skip,
        });
    }
    r
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
    defaults_kw: Option<Span>,
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
    syn::custom_keyword!(secret);
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
            defaults_kw: None,
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
                        let kw = body.parse::<kw::defaults>()?;
                        m.defaults_kw.get_or_insert(kw.span);
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
    // `hidden` and `secret` are keywords only before a name: `secret = "x"` is a variable
    // named `secret`.
    let in_env = if input.peek(kw::hidden) && !input.peek2(Token![=]) {
        input.parse::<kw::hidden>()?;
        false
    } else {
        true
    };
    let secret = if input.peek(kw::secret) && !input.peek2(Token![=]) {
        input.parse::<kw::secret>()?;
        true
    } else {
        false
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
        secret,
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
        value: Value::Default,
        attrs,
    };
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        match input.parse::<Expr>() {
            Ok(e) => comp.value = Value::Expr(e),
            Err(e) => {
                comp.value = Value::Invalid;
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
    let mut seq = vec![parse_par(input)?];
    while input.peek(Token![|]) && !input.peek(Token![||]) {
        input.parse::<Token![|]>()?;
        seq.push(parse_par(input)?);
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
    Ok(flat(seq, Dep::Seq))
}

fn parse_par(input: ParseStream) -> syn::Result<Dep> {
    let mut par = vec![parse_atom(input)?];
    while input.peek(Token![&]) && !input.peek(Token![&&]) {
        input.parse::<Token![&]>()?;
        par.push(parse_atom(input)?);
    }
    Ok(flat(par, Dep::Par))
}

/// One operand stands for itself; several make a list.
fn flat(mut ds: Vec<Dep>, list: fn(Vec<Dep>) -> Dep) -> Dep {
    if ds.len() == 1 {
        ds.pop().expect("one operand")
    } else {
        list(ds)
    }
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

/// Replaces `Self` in an output's type by the resource's own name.
struct SelfIs<'a>(&'a Ident);

impl VisitMut for SelfIs<'_> {
    fn visit_ident_mut(&mut self, i: &mut Ident) {
        if i == "Self" {
            *i = Ident::new(&self.0.to_string(), i.span());
        }
    }
}
