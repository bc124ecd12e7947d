//! Variables: values, containers and lookup with the original's dynamic scoping.
//!
//! Lookup from a reader (usually a role) climbs its containers: at each level **overrides, then
//! variables**, then the parent (role → group / keyed container → namespace). A template found at any
//! level is expanded **from the reader's perspective**, so a namespace-level `NODE_NAME =
//! "!{BASE}-!{NODE_ID}"` picks up the `NODE_ID` each role defines. An override masks variables of its
//! own level and below only; a role's own variable still wins over a namespace-level override (the
//! original's rule, kept so ported models behave the same).

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::model::build::{Env, Shared, env_for, lock};
use crate::model::{At, Key, Located, Out};

/// A variable's value.
#[derive(Clone)]
pub enum VarValue {
    /// No value (an explicit hole; reading it is an error naming the variable).
    None,
    /// Text; may contain `!{NAME}` references, expanded for the reader.
    Str(String),
    /// An output of an infra component (an IP, an id), known after provisioning.
    Out(At, &'static str),
    /// Another container's variable (`ns.v.NAME`).
    Ref(VarRef),
    /// A value computed for each reader (a model-level `NODE_ID = ctx.name` gives each role its key).
    Lazy(Arc<dyn Fn(&Env) -> VarValue + Send + Sync>),
}

impl fmt::Debug for VarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarValue::None => f.write_str("None"),
            VarValue::Str(s) => write!(f, "{s:?}"),
            VarValue::Out(at, a) => write!(f, "Out({at:?}.{a})"),
            VarValue::Ref(r) => write!(f, "{r:?}"),
            VarValue::Lazy(_) => f.write_str("<computed per reader>"),
        }
    }
}

impl From<&str> for VarValue {
    fn from(s: &str) -> Self {
        VarValue::Str(s.to_owned())
    }
}
impl From<String> for VarValue {
    fn from(s: String) -> Self {
        VarValue::Str(s)
    }
}
impl From<&String> for VarValue {
    fn from(s: &String) -> Self {
        VarValue::Str(s.clone())
    }
}
impl From<Key> for VarValue {
    fn from(s: Key) -> Self {
        VarValue::Str(s.to_string())
    }
}
impl From<&Key> for VarValue {
    fn from(s: &Key) -> Self {
        VarValue::Str(s.to_string())
    }
}
impl<T> From<Out<T>> for VarValue {
    fn from(o: Out<T>) -> Self {
        VarValue::Out(o.at(), o.attr())
    }
}
impl From<VarRef> for VarValue {
    fn from(r: VarRef) -> Self {
        VarValue::Ref(r)
    }
}
impl<T: Into<VarValue>> From<Option<T>> for VarValue {
    fn from(o: Option<T>) -> Self {
        o.map_or(VarValue::None, Into::into)
    }
}
// Numbers are accepted and rendered with `Display` (the original rejected `Var("PORT", 8080)`).
macro_rules! num_values {
    ($($t:ty),*) => {$( impl From<$t> for VarValue { fn from(v: $t) -> Self { VarValue::Str(v.to_string()) } } )*};
}
num_values!(u8, u16, u32, u64, usize, i32, i64, bool);

/// A named variable.
#[derive(Clone, Debug)]
pub struct Var {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: VarValue,
    /// Whether it is exported to task environments (default true).
    pub in_env: bool,
}

impl Var {
    /// A variable exported to task environments.
    ///
    /// ```
    /// use actuator::namespace::{Var, VarValue};
    /// let v = Var::new("PORT", 8080);
    /// assert!(matches!(v.value, VarValue::Str(ref s) if s == "8080"));
    /// ```
    pub fn new(name: &str, value: impl Into<VarValue>) -> Var {
        Var {
            name: name.to_owned(),
            value: value.into(),
            in_env: true,
        }
    }
    /// A variable computed for each reader (generated for non-literal `vars { }` entries).
    pub fn lazy(name: &str, f: Arc<dyn Fn(&Env) -> VarValue + Send + Sync>) -> Var {
        Var {
            name: name.to_owned(),
            value: VarValue::Lazy(f),
            in_env: true,
        }
    }
    /// Sets whether the variable is exported to task environments.
    pub fn in_env(mut self, yes: bool) -> Var {
        self.in_env = yes;
        self
    }
}

/// The variables and overrides of one container.
#[derive(Clone, Default, Debug)]
pub struct VarSet {
    /// Variables by name; adding one with an existing name replaces it.
    pub vars: IndexMap<String, Var>,
    /// Overrides by name: searched before `vars`, without destroying them.
    pub overrides: IndexMap<String, Var>,
}

impl VarSet {
    /// Adds (or replaces) a variable.
    pub fn add(&mut self, v: Var) {
        self.vars.insert(v.name.clone(), v);
    }
    /// Adds (or replaces) an override.
    pub fn add_override(&mut self, v: Var) {
        self.overrides.insert(v.name.clone(), v);
    }
    fn get(&self, name: &str) -> Option<&Var> {
        self.overrides.get(name).or_else(|| self.vars.get(name))
    }
}

impl FromIterator<Var> for VarSet {
    fn from_iter<I: IntoIterator<Item = Var>>(it: I) -> Self {
        let mut s = VarSet::default();
        it.into_iter().for_each(|v| s.add(v));
        s
    }
}

/// A typed reference to a variable as seen from a container: `ns.v.URL`, `role.v("NODE_ID")`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VarRef {
    at: At,
    name: &'static str,
}

impl VarRef {
    /// Variable `name` seen from the container at `at`.
    pub const fn new(at: At, name: &'static str) -> VarRef {
        VarRef { at, name }
    }
    /// The variable's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Located for VarRef {
    fn at(&self) -> At {
        self.at
    }
}

impl fmt::Debug for VarRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VarRef({:?}:{}.v.{})",
            self.at.model, self.at.node, self.name
        )
    }
}

impl crate::model::Refs for VarRef {
    fn visit_refs(&self, _: &mut dyn FnMut(At)) {}
}

/// Merges `set` into the container at `at` (generated code and keyed containers).
#[doc(hidden)]
pub fn set_vars(w: &Shared, at: At, set: VarSet) {
    let mut g = lock(w);
    let slot = g.tree_mut(at.model).vars.entry(at.node).or_default();
    for (_, v) in set.vars {
        slot.add(v);
    }
    for (_, v) in set.overrides {
        slot.add_override(v);
    }
}

/// Adds an override on the container or role at `at` (non-destructive: removing it brings the
/// variable back).
pub fn add_override(w: &Shared, at: At, v: Var) {
    lock(w)
        .tree_mut(at.model)
        .vars
        .entry(at.node)
        .or_default()
        .add_override(v);
}

/// Adds (or replaces) a variable on the container or role at `at`.
pub fn add_var(w: &Shared, at: At, v: Var) {
    lock(w)
        .tree_mut(at.model)
        .vars
        .entry(at.node)
        .or_default()
        .add(v);
}

/// The nearest definition of `name` visible from `reader`, and the container that holds it.
pub fn find_var(w: &Shared, reader: At, name: &str) -> Option<(Var, At)> {
    let g = lock(w);
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
        let g = lock(w);
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
        VarValue::Out(at, attr) => match lock(w).output(at, attr) {
            Some(s) => Lookup::Literal(s.to_owned()),
            None => Lookup::Missing,
        },
        VarValue::Ref(r) => match var_value(w, r.at, r.name) {
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
    let reader = lock(w).describe(reader);
    match e {
        actuator_template::ExpandError::Unresolved { name, chain } => VarError::Unresolved {
            name,
            reader,
            chain,
        },
        actuator_template::ExpandError::Cycle { chain } => VarError::Cycle { reader, chain },
    }
}
