//! Every rule the macros enforce, over the IR, all errors reported together at the user's tokens:
//! the declaration's shape and options, component attributes, duplicate and reserved names,
//! `!{VAR}` names that nothing declares, static variable cycles, config dependencies that name
//! unknown tasks or form a cycle, and the rules of `#[derive(Resource)]`.
//!
//! After reporting, the checks leave the model in a state expansion can emit without a cascade:
//! members already reported are dropped or marked invalid (their expression replaced by a
//! placeholder), so one mistake gives one error.

use std::collections::{BTreeMap, HashMap, HashSet};

use syn::visit::Visit;
use syn::{Expr, ExprMethodCall, Ident, Lit, LitStr};

use crate::ctxt::Ctxt;
use crate::ir::{Dep, Kind, Model, Resource, Shape, Unknown, Value};

/// Names generated code uses on path structs or binds for component expressions.
const RESERVED: &[&str] = &["v", "ctx", "infra", "ns", "q"];

/// Checks a model. Returns `false` when its items must not be generated at all (a generic model:
/// generated items name the model without generics, so it gets its error alone).
pub fn model(cx: &Ctxt, m: &mut Model) -> bool {
    let generic = !m.generics.params.is_empty();
    if generic {
        cx.error(
            &m.generics,
            "models cannot be generic: their typed paths are generated per concrete type",
        );
    }
    declaration(cx, m);
    components(cx, m);
    names(cx, m);
    if m.kind.has_vars() {
        templates(cx, m);
    }
    if m.kind == Kind::Config {
        deps(cx, m);
    }
    // Keep the first of duplicated names so the generated items stay valid: one error, no cascade.
    let mut seen = HashSet::new();
    m.comps.retain(|c| seen.insert(c.name.to_string()));
    let mut seen = HashSet::new();
    m.vars.retain(|v| seen.insert(v.name.to_string()));
    !generic
}

/// What the declaration itself may say for its kind of model.
fn declaration(cx: &Ctxt, m: &Model) {
    unknown_options(cx, &m.unknown);
    match &m.shape {
        Shape::Named => {}
        Shape::Unnamed(fields) => cx.error(
            fields,
            "a model is a struct with named fields, one per component",
        ),
        Shape::NotStruct => cx.error(&m.ident, "a model must be a struct with named fields"),
    }
    let config = m.kind == Kind::Config;
    if config && let Some(group) = m.group_kw {
        cx.push(syn::Error::new(
            group,
            "config models are declared with `struct`, not `group`",
        ));
    }
    if config && let Some(vars) = m.vars_kw {
        cx.push(syn::Error::new(
            vars,
            "variables belong to namespace models, not config models",
        ));
    }
    if !config && let Some(deps) = m.deps_kw {
        cx.push(syn::Error::new(deps, "`deps { }` belongs to config models"));
    }
    if !config && let Some(defaults) = m.defaults_kw {
        cx.push(syn::Error::new(
            defaults,
            "`defaults { }` belongs to config models",
        ));
    }
    if config && m.bound.is_none() {
        cx.error(
            &m.ident,
            "a config model names its namespace: `struct Name for MyNamespace { … }`",
        );
    }
}

fn unknown_options(cx: &Ctxt, unknown: &[Unknown]) {
    for u in unknown {
        cx.error(&u.path, u.expected);
    }
}

/// A derive's fields: each needs `#[component]` or `#[component(expr)]`.
fn components(cx: &Ctxt, m: &mut Model) {
    for c in &mut m.comps {
        match &c.value {
            Value::Missing => {
                let name = &c.name;
                cx.error(
                    name,
                    format_args!(
                        "field `{name}` has no `#[component(...)]` attribute; every field of a model is a component"
                    ),
                );
            }
            Value::Assigned(nv) => {
                cx.error(
                    nv,
                    "write `#[component(expression)]`, not `#[component = ...]`",
                );
                // Still declared, with a placeholder value: paths to it type-check.
                c.value = Value::Invalid;
            }
            Value::Default | Value::Expr(_) | Value::Invalid => {}
        }
    }
    // A field without the attribute is no component: it gets no path and no build.
    m.comps.retain(|c| !matches!(c.value, Value::Missing));
}

fn names(cx: &Ctxt, m: &Model) {
    let mut seen: HashSet<String> = HashSet::new();
    let what = m.kind.member();
    for c in &m.comps {
        let n = c.name.to_string();
        if !seen.insert(n.clone()) {
            // A derive's struct already has rustc's "field `x` is already declared" (E0124).
            if !m.emit_struct {
                continue;
            }
            cx.error(
                &c.name,
                format_args!("duplicate {what} name `{n}` in `{}`", m.ident),
            );
        } else if RESERVED.contains(&n.as_str()) || n.starts_with("__") {
            cx.error(
                &c.name,
                format_args!(
                    "`{n}` is reserved in models (it names generated paths); choose another name"
                ),
            );
        }
    }
    let mut vars: HashSet<String> = HashSet::new();
    for v in &m.vars {
        if !vars.insert(v.name.to_string()) {
            cx.error(
                &v.name,
                format_args!("duplicate variable `{}` in `{}`", v.name, m.ident),
            );
        }
    }
}

/// Every `!{NAME}` in a string literal of the namespace must be declared: in `vars { }`, on a role or
/// container with `.var("NAME", …)`, or as supplied later with `extern { NAME }`.
fn templates(cx: &Ctxt, m: &Model) {
    let mut declared: HashSet<String> = m.vars.iter().map(|v| v.name.to_string()).collect();
    declared.extend(m.externs.iter().map(Ident::to_string));
    let mut lits = Literals::default();
    // A secret is taken literally: a `!{` in it is text, not a reference.
    for v in m.vars.iter().filter(|v| !v.secret) {
        lits.visit_expr(&v.value);
    }
    for c in &m.comps {
        if let Value::Expr(e) = &c.value {
            lits.visit_expr(e);
        }
    }
    declared.extend(lits.declared.iter().cloned());
    for lit in &lits.strings {
        let text = lit.value();
        for (name, _) in actuator_template::undefined(&text, &|n| declared.contains(n)) {
            cx.error(
                lit,
                format_args!(
                    "undefined variable `{name}` in template {text:?}; declare it in `vars {{ }}`, on a role with `.var(\"{name}\", …)`, or as supplied later with `extern {{ {name} }}` (write `!!{{` for a literal `!{{`)"
                ),
            );
        }
    }
    let defs: BTreeMap<String, String> = m
        .vars
        .iter()
        .filter(|v| !v.secret)
        .filter_map(|v| match &v.value {
            Expr::Lit(l) => match &l.lit {
                Lit::Str(s) => Some((v.name.to_string(), s.value())),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if let Some(cycle) = actuator_template::find_cycle(&defs) {
        let first = m
            .vars
            .iter()
            .find(|v| v.name == cycle[0])
            .expect("cycle names a declared var");
        cx.error(
            &first.name,
            format_args!(
                "variable cycle: {} — a value cannot be expanded from itself",
                cycle.join(" -> ")
            ),
        );
    }
}

#[derive(Default)]
struct Literals {
    strings: Vec<LitStr>,
    declared: Vec<String>,
}

impl<'ast> Visit<'ast> for Literals {
    fn visit_lit_str(&mut self, l: &'ast LitStr) {
        if l.value().contains("!{") {
            self.strings.push(l.clone());
        }
    }
    fn visit_expr_method_call(&mut self, c: &'ast ExprMethodCall) {
        if (c.method == "var" || c.method == "hidden_var")
            && let Some(Expr::Lit(l)) = c.args.first()
            && let Lit::Str(s) = &l.lit
        {
            self.declared.push(s.value());
        }
        syn::visit::visit_expr_method_call(self, c);
    }
}

/// Static edges of the dependency expressions (by task name), in declaration order, each once.
pub fn dep_edges(deps: &[Dep]) -> Vec<(Ident, Ident)> {
    /// Adds the edges inside `d`; returns the tasks it starts with and the tasks it ends with.
    fn walk<'a>(d: &'a Dep, edges: &mut Edges<'a>) -> (Vec<&'a Ident>, Vec<&'a Ident>) {
        match d {
            Dep::Task(t) => (vec![t], vec![t]),
            Dep::Seq(ds) => {
                let (entries, mut exits) = walk(&ds[0], edges);
                for d in &ds[1..] {
                    let (next_entries, next_exits) = walk(d, edges);
                    for x in &exits {
                        for e in &next_entries {
                            edges.add(x, e);
                        }
                    }
                    exits = next_exits;
                }
                (entries, exits)
            }
            Dep::Par(ds) => {
                let (mut entries, mut exits) = (Vec::new(), Vec::new());
                for d in ds {
                    let (e, x) = walk(d, edges);
                    entries.extend(e);
                    exits.extend(x);
                }
                (entries, exits)
            }
        }
    }
    #[derive(Default)]
    struct Edges<'a> {
        seen: HashSet<(String, String)>,
        list: Vec<(&'a Ident, &'a Ident)>,
    }
    impl<'a> Edges<'a> {
        fn add(&mut self, a: &'a Ident, b: &'a Ident) {
            if self.seen.insert((a.to_string(), b.to_string())) {
                self.list.push((a, b));
            }
        }
    }
    let mut edges = Edges::default();
    for d in deps {
        walk(d, &mut edges);
    }
    edges
        .list
        .into_iter()
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect()
}

fn deps(cx: &Ctxt, m: &Model) {
    // Components that failed to parse were reported already: naming them is no second error.
    let tasks: HashSet<String> = m
        .comps
        .iter()
        .map(|c| &c.name)
        .chain(&m.broken)
        .map(Ident::to_string)
        .collect();
    let mut named = Vec::new();
    for d in &m.deps {
        d.tasks(&mut named);
    }
    let mut bad = false;
    for t in named {
        if !tasks.contains(&t.to_string()) {
            bad = true;
            cx.error(t, format_args!("no task named `{t}` in `{}`", m.ident));
        }
    }
    if bad {
        return;
    }
    let edges = dep_edges(&m.deps);
    let mut succ: HashMap<String, Vec<&Ident>> = HashMap::new();
    for (a, b) in &edges {
        succ.entry(a.to_string()).or_default().push(b);
    }
    // Iterative DFS with colours; on a back edge, report the cycle at the token closing it.
    let mut colour: HashMap<String, u8> = HashMap::new();
    for c in &m.comps {
        let start = c.name.to_string();
        if colour.contains_key(&start) {
            continue;
        }
        let mut stack: Vec<(String, usize)> = vec![(start.clone(), 0)];
        colour.insert(start, 1);
        while let Some((node, i)) = stack.last().cloned() {
            let next = succ.get(&node).and_then(|v| v.get(i)).copied();
            stack.last_mut().expect("non-empty").1 += 1;
            match next {
                None => {
                    colour.insert(node, 2);
                    stack.pop();
                }
                Some(n) => match colour.get(&n.to_string()) {
                    Some(1) => {
                        let pos = stack
                            .iter()
                            .position(|(s, _)| *n == s.as_str())
                            .unwrap_or(0);
                        let mut cyc: Vec<String> =
                            stack[pos..].iter().map(|(s, _)| s.clone()).collect();
                        cyc.push(n.to_string());
                        cx.error(
                            n,
                            format_args!("dependency cycle among tasks: {}", cyc.join(" | ")),
                        );
                        return;
                    }
                    Some(_) => {}
                    None => {
                        colour.insert(n.to_string(), 1);
                        stack.push((n.to_string(), 0));
                    }
                },
            }
        }
    }
}

/// The rules of `#[derive(Resource)]`: known options only, a kind, named fields with a `name`,
/// `update(…)` naming recorded fields.
pub fn resource(cx: &Ctxt, r: &Resource) {
    unknown_options(cx, &r.unknown);
    if r.kind.is_none() {
        cx.error(
            &r.ident,
            "a resource needs `#[resource(kind = \"cloud.Kind\")]`",
        );
    }
    match r.shape {
        Shape::Named => {}
        Shape::Unnamed(_) => cx.error(&r.ident, "a resource has named fields"),
        Shape::NotStruct => cx.error(&r.ident, "a resource is a struct"),
    }
    let ident = &r.ident;
    for u in &r.update {
        if !r.fields.iter().any(|f| !f.skip && f.ident == *u) {
            cx.error(
                u,
                format!("`{u}` is not a recorded argument of `{ident}`: `update(…)` names fields"),
            );
        }
    }
    // Asked last and alone: a resource whose declaration is wrong elsewhere gets that error only.
    if !cx.has_errors() && !r.fields.iter().any(|f| f.ident == "name") {
        cx.error(&r.ident, "a resource has a `name: String` field");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn edges(tokens: proc_macro2::TokenStream) -> Vec<String> {
        let cx = Ctxt::new();
        let m = crate::parse::macro_model(&cx, tokens, crate::ir::Family::Config).expect("model");
        assert!(cx.into_tokens().is_empty());
        dep_edges(&m.deps)
            .into_iter()
            .map(|(a, b)| format!("{a}>{b}"))
            .collect()
    }

    #[test]
    fn sequences_and_groups_give_every_edge_once() {
        let e = edges(quote! {
            struct C for N { a: Task, b: Task, c: Task, d: Task,
                deps { a | b & c | d, a | b } }
        });
        assert_eq!(e, ["a>b", "a>c", "b>d", "c>d"]);
    }

    #[test]
    fn a_long_chain_is_flat() {
        let names: Vec<Ident> = (0..5000).map(|i| quote::format_ident!("t{i}")).collect();
        let e = edges(quote! { struct C for N { deps { #(#names)|* } } });
        assert_eq!(e.len(), 4999);
    }

    fn resource_errors(input: proc_macro2::TokenStream) -> String {
        let cx = Ctxt::new();
        let r = crate::parse::resource(&cx, &syn::parse2(input).expect("a derive input"));
        resource(&cx, &r);
        cx.into_tokens().to_string()
    }

    #[test]
    fn update_names_recorded_fields_only() {
        let ok = resource_errors(quote! {
            #[resource(kind = "t.B", update(tags), create_before_destroy)]
            struct B { name: String, tags: Vec<String> }
        });
        assert!(ok.is_empty(), "{ok}");
        let skipped = resource_errors(quote! {
            #[resource(kind = "t.B", update(tags, size))]
            struct B { name: String, #[resource(skip)] tags: Vec<String> }
        });
        assert!(
            skipped.contains("`tags` is not a recorded argument of `B`"),
            "{skipped}"
        );
        assert!(
            skipped.contains("`size` is not a recorded argument of `B`"),
            "{skipped}"
        );
    }
}
