//! Cross-cutting checks over a whole model, all errors reported together: duplicate and reserved
//! names, `!{VAR}` names that nothing declares, static variable cycles, and config dependencies that
//! name unknown tasks or form a cycle.

use std::collections::{BTreeMap, HashMap, HashSet};

use syn::visit::Visit;
use syn::{Expr, ExprMethodCall, Ident, Lit, LitStr};

use crate::ctxt::Ctxt;
use crate::ir::{Dep, Kind, Model};

/// Names generated code uses on path structs.
const RESERVED: &[&str] = &["v", "ctx", "infra", "ns", "q"];

pub fn check(cx: &Ctxt, m: &Model) {
    names(cx, m);
    if m.kind.has_vars() {
        templates(cx, m);
    }
    if m.kind == Kind::Config {
        deps(cx, m);
    }
}

fn names(cx: &Ctxt, m: &Model) {
    let mut seen: HashSet<String> = HashSet::new();
    let what = match m.kind {
        Kind::Infra | Kind::InfraGroup => "component",
        Kind::Namespace | Kind::RoleGroup => "role",
        Kind::Config => "task",
    };
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
    for v in &m.vars {
        lits.visit_expr(&v.value);
    }
    for c in &m.comps {
        if let Some(e) = &c.expr {
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

/// Static edges of the dependency expressions (by component name), in declaration order.
pub fn dep_edges(deps: &[Dep]) -> Vec<(Ident, Ident)> {
    fn walk(d: &Dep, edges: &mut Vec<(Ident, Ident)>) -> (Vec<Ident>, Vec<Ident>) {
        match d {
            Dep::Task(t) => (vec![t.clone()], vec![t.clone()]),
            Dep::Seq(a, b) => {
                let (ea, xa) = walk(a, edges);
                let (eb, xb) = walk(b, edges);
                for x in &xa {
                    for e in &eb {
                        if !edges.iter().any(|(p, q)| p == x && q == e) {
                            edges.push((x.clone(), e.clone()));
                        }
                    }
                }
                (ea, xb)
            }
            Dep::Par(a, b) => {
                let (mut ea, mut xa) = walk(a, edges);
                let (eb, xb) = walk(b, edges);
                ea.extend(eb);
                xa.extend(xb);
                (ea, xa)
            }
        }
    }
    let mut edges = Vec::new();
    for d in deps {
        walk(d, &mut edges);
    }
    edges
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
    for t in &named {
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
