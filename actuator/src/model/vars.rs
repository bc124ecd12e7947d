//! Variable data: values, named variables and the per-container sets the model tree holds.
//!
//! Only data lives here; lookup with the original's dynamic scoping, expansion of `!{NAME}` and the
//! report are the namespace's ([`crate::namespace`](mod@crate::namespace)). Keeping the data at the bottom lets the tree
//! store variables without the model layer knowing about namespaces.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

use super::build::{Env, Shared};
use super::{At, InstanceKey, Located, Out};

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
    /// A secret (a password, a token): exported to task environments and expanded into what
    /// tasks run, but shown as `***` everywhere else — reports, plans, events, errors, logs —
    /// and never written to the state. Taken literally (a `!{` in it is not expanded).
    Secret(crate::secret::Secret),
}

impl fmt::Debug for VarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarValue::None => f.write_str("None"),
            VarValue::Str(s) => write!(f, "{s:?}"),
            VarValue::Out(at, a) => write!(f, "Out({at:?}.{a})"),
            VarValue::Ref(r) => write!(f, "{r:?}"),
            VarValue::Lazy(_) => f.write_str("<computed per reader>"),
            VarValue::Secret(s) => write!(f, "Secret({s:?})"),
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
impl From<InstanceKey> for VarValue {
    fn from(s: InstanceKey) -> Self {
        VarValue::Str(s.to_string())
    }
}
impl From<&InstanceKey> for VarValue {
    fn from(s: &InstanceKey) -> Self {
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
impl From<crate::secret::Secret> for VarValue {
    fn from(s: crate::secret::Secret) -> Self {
        VarValue::Secret(s)
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
    /// A secret variable: exported to task environments and usable in templates, shown as `***`
    /// everywhere else (see [`VarValue::Secret`]).
    ///
    /// ```
    /// use actuator::namespace::Var;
    /// use actuator::secret::Secret;
    /// let v = Var::secret("DB_PASSWORD", Secret::new("hunter2"));
    /// assert!(v.is_secret() && v.in_env);
    /// assert!(!format!("{v:?}").contains("hunter2"));
    /// ```
    pub fn secret(name: &str, value: crate::secret::Secret) -> Var {
        Var {
            name: name.to_owned(),
            value: VarValue::Secret(value),
            in_env: true,
        }
    }
    /// Whether the variable's value is a secret.
    pub fn is_secret(&self) -> bool {
        matches!(self.value, VarValue::Secret(_))
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
    /// The override or variable `name` of this container (overrides first).
    pub fn get(&self, name: &str) -> Option<&Var> {
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
    let mut g = w.lock();
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
    w.lock()
        .tree_mut(at.model)
        .vars
        .entry(at.node)
        .or_default()
        .add_override(v);
}

/// Adds (or replaces) a variable on the container or role at `at`.
pub fn add_var(w: &Shared, at: At, v: Var) {
    w.lock()
        .tree_mut(at.model)
        .vars
        .entry(at.node)
        .or_default()
        .add(v);
}
