//! Variable lookup with the original's dynamic scoping, and `!{NAME}` expansion (the data types
//! live in [`crate::model::vars`]).
//!
//! Lookup from a reader (usually a role) climbs its containers: at each level **overrides, then
//! variables**, then the parent (role → group / keyed container → namespace). A template found at any
//! level is expanded **from the reader's perspective**, so a namespace-level `NODE_NAME =
//! "!{BASE}-!{NODE_ID}"` picks up the `NODE_ID` each role defines. An override masks variables of its
//! own level and below only; a role's own variable still wins over a namespace-level override (the
//! original's rule, kept so ported models behave the same).

use indexmap::IndexMap;

use crate::model::build::{Shared, env_for};
use crate::model::vars::{Var, VarRef, VarValue};
use crate::model::{At, Located};

/// The nearest definition of `name` visible from `reader`, and the container that holds it.
pub fn find_var(w: &Shared, reader: At, name: &str) -> Option<(Var, At)> {
    let g = w.lock();
    let t = g.tree(reader.model);
    let mut n = reader.node;
    while n != u32::MAX {
        let own = t.vars.get(&n);
        // Overrides, then variables added at run time (`add_var` replaces a declared one), then
        // a role's declared variables.
        let found = own.and_then(|s| s.get(name)).or_else(|| {
            t.get::<super::Role>(n)
                .and_then(|r| r.vars.iter().rev().find(|v| v.name == name))
        });
        if let Some(v) = found {
            return Some((
                v.clone(),
                At {
                    model: reader.model,
                    node: n,
                },
            ));
        }
        n = t.node(n).parent;
    }
    None
}

/// Every variable visible from `reader`, nearest definition winning, as `(var, owner)`.
pub fn visible_vars(w: &Shared, reader: At) -> Vec<(Var, At)> {
    let names: Vec<String> = {
        let g = w.lock();
        let t = g.tree(reader.model);
        let mut names: IndexMap<String, ()> = IndexMap::new();
        let mut chain = Vec::new();
        let mut n = reader.node;
        while n != u32::MAX {
            chain.push(n);
            n = t.node(n).parent;
        }
        for n in chain.into_iter().rev() {
            if let Some(s) = t.vars.get(&n) {
                names.extend(
                    s.vars
                        .keys()
                        .chain(s.overrides.keys())
                        .map(|k| (k.clone(), ())),
                );
            }
            if let Some(r) = t.get::<super::Role>(n) {
                names.extend(r.vars.iter().map(|v| (v.name.clone(), ())));
            }
        }
        names.into_keys().collect()
    };
    names
        .into_iter()
        .filter_map(|n| find_var(w, reader, &n))
        .collect()
}

/// Where in `reader`'s namespace `name` is declared (roles and containers, by model path), for a
/// reader that sees none of them: "not defined for this role; `grid.1`, `grid.2` declare it".
pub(crate) fn declared_elsewhere(w: &Shared, reader: At, name: &str) -> Vec<String> {
    let g = w.lock();
    let t = g.tree(reader.model);
    let mut nodes: Vec<u32> = t
        .vars
        .iter()
        .filter(|(_, s)| s.vars.contains_key(name) || s.overrides.contains_key(name))
        .map(|(n, _)| *n)
        .collect();
    nodes.extend(
        t.leaves()
            .filter(|(n, _)| {
                t.get::<super::Role>(*n)
                    .is_some_and(|r| r.vars.iter().any(|v| v.name == name))
            })
            .map(|(n, _)| n),
    );
    nodes.sort_unstable();
    nodes.dedup();
    nodes.into_iter().map(|n| t.dotted(n)).collect()
}

/// Why a variable could not be given a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VarError {
    /// A `!{NAME}` that nothing visible from the reader defines, or a value not known yet.
    #[error("variable `{name}` has no value for `{reader}`{}", via(.chain))]
    Unresolved {
        /// The missing variable.
        name: String,
        /// The model path of the reader (a role).
        reader: String,
        /// The variables being expanded when it was needed, outermost first.
        chain: Vec<String>,
    },
    /// A variable whose expansion needs itself.
    #[error("variable cycle for `{reader}`: {}", .chain.join(" -> "))]
    Cycle {
        /// The model path of the reader.
        reader: String,
        /// The cycle, e.g. `ONE -> TWO -> ONE`.
        chain: Vec<String>,
    },
}

fn via(chain: &[String]) -> String {
    if chain.is_empty() {
        String::new()
    } else {
        format!(" (needed by {})", chain.join(" -> "))
    }
}

struct ReaderScope<'a> {
    w: &'a Shared,
    reader: At,
    /// Whether secret values are expanded (for what a task runs) or masked (for everything shown).
    reveal: bool,
}

impl actuator_template::Scope for ReaderScope<'_> {
    fn lookup(&self, name: &str) -> actuator_template::Lookup {
        match find_var(self.w, self.reader, name) {
            Some((v, _)) => resolve_value(self.w, self.reader, v.value, self.reveal),
            None => actuator_template::Lookup::Missing,
        }
    }
}

/// What a secret looks like wherever it is shown.
pub const MASK: &str = "***";

fn resolve_value(w: &Shared, reader: At, v: VarValue, reveal: bool) -> actuator_template::Lookup {
    use actuator_template::Lookup;
    match v {
        VarValue::None => Lookup::Missing,
        VarValue::Str(s) => Lookup::Value(s),
        VarValue::Out(at, attr) => match w.lock().output(at, attr) {
            Some(s) => Lookup::Literal(s.to_owned()),
            None => Lookup::Missing,
        },
        VarValue::Ref(r) => match expand_with(w, r.at(), &format!("!{{{}}}", r.name()), reveal) {
            Ok(s) => Lookup::Literal(s),
            Err(_) => Lookup::Missing,
        },
        VarValue::Lazy(f) => {
            let env = env_for(w, reader);
            resolve_value(w, reader, f(&env), reveal)
        }
        VarValue::Secret(s) if reveal => Lookup::Literal(s.expose().to_owned()),
        VarValue::Secret(_) => Lookup::Literal(MASK.to_owned()),
    }
}

fn expand_with(w: &Shared, reader: At, template: &str, reveal: bool) -> Result<String, VarError> {
    let scope = ReaderScope { w, reader, reveal };
    actuator_template::expand(template, &scope).map_err(|e| to_error(w, reader, e))
}

/// Expands `template` from the perspective of `reader`; secret variables show as [`MASK`]
/// (`***`): this is the value to print, log or record.
pub fn expand_for(w: &Shared, reader: At, template: &str) -> Result<String, VarError> {
    expand_with(w, reader, template, false)
}

/// Expands `template` from the perspective of `reader` with secret variables' real values: only
/// for what a task runs (its environment, command, copied content), never for anything shown.
pub(crate) fn expand_revealing(w: &Shared, reader: At, template: &str) -> Result<String, VarError> {
    expand_with(w, reader, template, true)
}

/// Why a variable given for a typed argument has no value of that type.
#[derive(Debug)]
pub(crate) enum TypedVarError {
    /// It does not expand (undefined, waiting for an output, a cycle).
    Expand(VarError),
    /// Its value does not parse; the message shows the value as printed (a secret masked).
    Parse(String),
}

/// The value of variable `var` (as its reader sees it) parsed by `parse`, for a typed argument:
/// one place for the pre-flight and for provisioning. The cloud gets a secret's real value; the
/// message shows it masked, and — when the value holds a secret — leaves out why it does not
/// parse, since the reason may quote part of it (an address, a derived range).
pub(crate) fn parse_var<T>(
    w: &Shared,
    var: &VarRef,
    parse: impl FnOnce(&str) -> std::result::Result<T, String>,
) -> std::result::Result<T, TypedVarError> {
    let template = format!("!{{{}}}", var.name());
    let value = expand_revealing(w, var.at(), &template).map_err(TypedVarError::Expand)?;
    parse(&value).map_err(|error| {
        let shown = expand_for(w, var.at(), &template).unwrap_or_default();
        let name = var.name();
        TypedVarError::Parse(if shown == value {
            format!("variable `{name}` = {}", crate::model::unparsable(&shown, &error))
        } else {
            format!("variable `{name}` = {shown:?} does not parse (it holds a secret, so why is not shown)")
        })
    })
}

/// The fully expanded value of variable `name` as seen from `reader`; an error names the variable and
/// the reader when anything is missing (never a silent empty value). A secret shows as [`MASK`].
pub fn var_value(w: &Shared, reader: At, name: &str) -> Result<String, VarError> {
    expand_for(w, reader, &format!("!{{{name}}}"))
}

/// Why variable `name` has no value for `reader`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Nothing visible from the reader defines it (an `extern` variable not given).
    Undefined,
    /// It is defined with no value.
    Hole,
    /// It reads an output that is not known yet (resolved during `up`).
    Output,
}

/// Why `name` does not resolve for `reader` (`None`: it does).
pub(crate) fn why_missing(w: &Shared, reader: At, name: &str) -> Option<Missing> {
    fn of(w: &Shared, reader: At, v: VarValue, depth: u32) -> Option<Missing> {
        match v {
            VarValue::None => Some(Missing::Hole),
            VarValue::Out(at, attr) => w
                .lock()
                .output(at, attr)
                .is_none()
                .then_some(Missing::Output),
            VarValue::Ref(r) => why_missing_at(w, r.at(), r.name(), depth + 1),
            VarValue::Lazy(f) => {
                let env = env_for(w, reader);
                of(w, reader, f(&env), depth)
            }
            VarValue::Str(_) | VarValue::Secret(_) => None,
        }
    }
    fn why_missing_at(w: &Shared, reader: At, name: &str, depth: u32) -> Option<Missing> {
        // (A cycle of references is reported as a cycle by the expansion itself.)
        if depth > 64 {
            return None;
        }
        match find_var(w, reader, name) {
            None => Some(Missing::Undefined),
            Some((v, _)) => of(w, reader, v.value, depth),
        }
    }
    why_missing_at(w, reader, name, 0)
}

/// Every secret value the model holds: the values of secret variables anywhere in it.
pub(crate) fn secret_values(w: &Shared) -> Vec<String> {
    let g = w.lock();
    let mut out = Vec::new();
    let mut take = |v: &Var| {
        if let VarValue::Secret(s) = &v.value {
            out.push(s.expose().to_owned());
        }
    };
    for t in g.trees() {
        for set in t.vars.values() {
            set.vars
                .values()
                .chain(set.overrides.values())
                .for_each(&mut take);
        }
        for (n, _) in t.leaves() {
            if let Some(r) = t.get::<super::Role>(n) {
                r.vars.iter().for_each(&mut take);
            }
        }
    }
    out
}

/// Expands what can be expanded now; unresolved references are kept as `!{NAME}`.
///
/// Secret variables show as [`MASK`].
pub fn expand_partial(w: &Shared, reader: At, template: &str) -> actuator_template::Partial {
    actuator_template::expand_partial(
        template,
        &ReaderScope {
            w,
            reader,
            reveal: false,
        },
    )
}

fn to_error(w: &Shared, reader: At, e: actuator_template::ExpandError) -> VarError {
    let reader = w.lock().describe(reader);
    match e {
        actuator_template::ExpandError::Unresolved { name, chain } => VarError::Unresolved {
            name,
            reader,
            chain,
        },
        actuator_template::ExpandError::Cycle { chain } => VarError::Cycle { reader, chain },
    }
}
