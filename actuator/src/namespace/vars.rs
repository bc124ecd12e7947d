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
use crate::model::vars::{Var, VarValue};
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
}

impl actuator_template::Scope for ReaderScope<'_> {
    fn lookup(&self, name: &str) -> actuator_template::Lookup {
        match find_var(self.w, self.reader, name) {
            Some((v, _)) => resolve_value(self.w, self.reader, v.value),
            None => actuator_template::Lookup::Missing,
        }
    }
}

fn resolve_value(w: &Shared, reader: At, v: VarValue) -> actuator_template::Lookup {
    use actuator_template::Lookup;
    match v {
        VarValue::None => Lookup::Missing,
        VarValue::Str(s) => Lookup::Value(s),
        VarValue::Out(at, attr) => match w.lock().output(at, attr) {
            Some(s) => Lookup::Literal(s.to_owned()),
            None => Lookup::Missing,
        },
        VarValue::Ref(r) => match var_value(w, r.at(), r.name()) {
            Ok(s) => Lookup::Literal(s),
            Err(_) => Lookup::Missing,
        },
        VarValue::Lazy(f) => {
            let env = env_for(w, reader);
            resolve_value(w, reader, f(&env))
        }
    }
}

/// Expands `template` from the perspective of `reader`.
pub fn expand_for(w: &Shared, reader: At, template: &str) -> Result<String, VarError> {
    let scope = ReaderScope { w, reader };
    actuator_template::expand(template, &scope).map_err(|e| to_error(w, reader, e))
}

/// The fully expanded value of variable `name` as seen from `reader`; an error names the variable and
/// the reader when anything is missing (never a silent empty value).
pub fn var_value(w: &Shared, reader: At, name: &str) -> Result<String, VarError> {
    expand_for(w, reader, &format!("!{{{name}}}"))
}

/// Expands what can be expanded now; unresolved references are kept as `!{NAME}`.
pub fn expand_partial(w: &Shared, reader: At, template: &str) -> actuator_template::Partial {
    actuator_template::expand_partial(template, &ReaderScope { w, reader })
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
