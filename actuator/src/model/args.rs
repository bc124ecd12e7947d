//! A resource's arguments as the state records them, so a later run can tell what changed without
//! asking the cloud: literals as JSON, references as the model path they point at, outputs as
//! `path.attr`, variables as their value, secrets as a salted hash.
//!
//! `#[derive(Resource)]` implements [`Element::args`](super::Element::args) with [`ArgValue`] on
//! every field (but `#[resource(skip)]` ones). A field type of your own implements [`ArgValue`]
//! by hand or, for a `serde::Serialize` type, with [`arg_via_serde!`](crate::arg_via_serde):
//!
//! ```
//! use actuator::model::args::{ArgCx, ArgValue};
//!
//! #[derive(Clone, Debug, serde::Serialize)]
//! enum Tier { Small, Large }
//! actuator::arg_via_serde!(Tier);
//!
//! let cx = ArgCx::detached();
//! assert_eq!(Tier::Large.arg(&cx), serde_json::json!("Large"));
//! assert_eq!(Some(8080u16).arg(&cx), serde_json::json!(8080));
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::refs::{Out, Ref, Val};
use super::vars::VarRef;
use super::{At, InstanceKey, Located};
use crate::secret::Secret;

/// Argument name → recorded value. Ordered, so two records of the same arguments compare equal
/// and serialize identically.
pub type Args = BTreeMap<&'static str, Value>;

/// What recording an argument may need: a way to name what a reference points at (its model
/// path), to read namespace variables (`Val::Var`; the namespace layer supplies it), and the salt
/// for hashing secrets.
pub struct ArgCx<'a> {
    path: &'a dyn Fn(At) -> String,
    var: &'a dyn Fn(&VarRef) -> Option<String>,
    salt: &'a str,
    /// Whether references are recorded (else as `null`: only the variables read are wanted).
    refs: bool,
}

impl<'a> ArgCx<'a> {
    /// A context that names references with `path`, reads variables with `var`, and hashes
    /// secrets with `salt` (the state's own random salt, so equal secrets of two states differ).
    pub fn new(
        path: &'a dyn Fn(At) -> String,
        var: &'a dyn Fn(&VarRef) -> Option<String>,
        salt: &'a str,
    ) -> Self {
        ArgCx {
            path,
            var,
            salt,
            refs: true,
        }
    }

    /// A context for finding which variables the arguments read, with `var`: references are
    /// recorded as `null`, not named (no model path looked up and written out).
    pub(crate) fn reading_vars(var: &'a dyn Fn(&VarRef) -> Option<String>) -> Self {
        ArgCx {
            path: &|_| String::new(),
            var,
            salt: "",
            refs: false,
        }
    }

    /// A context without a model (references are recorded by their raw position, variables as
    /// unresolved): doc examples and tests of [`ArgValue`] impls.
    pub fn detached() -> ArgCx<'static> {
        ArgCx {
            path: &|at| format!("{:?}:{}", at.model, at.node),
            var: &|_| None,
            salt: "",
            refs: true,
        }
    }

    fn path(&self, r: &impl Located) -> String {
        (self.path)(r.at())
    }
}

/// A value that can be recorded as a resource argument.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded as a resource argument",
    label = "the state records every argument of a resource, to tell what changed",
    note = "implement `actuator::model::args::ArgValue` for it, or for a `serde::Serialize` type write `actuator::arg_via_serde!(Type);`, or mark the field `#[resource(skip)]`"
)]
pub trait ArgValue {
    /// The value as the state records it.
    fn arg(&self, cx: &ArgCx<'_>) -> Value;
}

/// Implements [`ArgValue`] for a `serde::Serialize` type (recorded as its JSON form).
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Port(u16);
/// actuator::arg_via_serde!(Port);
/// ```
#[macro_export]
macro_rules! arg_via_serde {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::model::args::ArgValue for $t {
            fn arg(&self, _: &$crate::model::args::ArgCx<'_>) -> ::serde_json::Value {
                ::serde_json::to_value(self).unwrap_or(::serde_json::Value::Null)
            }
        }
    )+};
}

macro_rules! via_json {
    ($($t:ty),*) => {$(
        impl ArgValue for $t {
            fn arg(&self, _: &ArgCx<'_>) -> Value { json!(self) }
        }
    )*};
}
via_json!(
    String, str, bool, u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64, char
);

macro_rules! via_display {
    ($($t:ty),*) => {$(
        impl ArgValue for $t {
            fn arg(&self, _: &ArgCx<'_>) -> Value { Value::String(self.to_string()) }
        }
    )*};
}
via_display!(IpAddr, InstanceKey, super::Cidr);

impl ArgValue for super::Port {
    fn arg(&self, _: &ArgCx<'_>) -> Value {
        json!(self.0)
    }
}

impl<R: ?Sized> ArgValue for super::Id<R> {
    fn arg(&self, _: &ArgCx<'_>) -> Value {
        Value::String(self.as_str().to_owned())
    }
}

impl ArgValue for PathBuf {
    fn arg(&self, _: &ArgCx<'_>) -> Value {
        Value::String(self.to_string_lossy().into_owned())
    }
}

impl<T: ArgValue + ?Sized> ArgValue for &T {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        (**self).arg(cx)
    }
}

impl<T: ArgValue + ?Sized> ArgValue for Box<T> {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        (**self).arg(cx)
    }
}

impl<T: ArgValue> ArgValue for Option<T> {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        self.as_ref().map_or(Value::Null, |v| v.arg(cx))
    }
}

impl<T: ArgValue> ArgValue for Vec<T> {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        Value::Array(self.iter().map(|v| v.arg(cx)).collect())
    }
}

impl<T: ArgValue, const N: usize> ArgValue for [T; N] {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        Value::Array(self.iter().map(|v| v.arg(cx)).collect())
    }
}

impl<T: ArgValue> ArgValue for BTreeSet<T> {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        Value::Array(self.iter().map(|v| v.arg(cx)).collect())
    }
}

impl<K: AsRef<str>, T: ArgValue> ArgValue for BTreeMap<K, T> {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        Value::Object(
            self.iter()
                .map(|(k, v)| (k.as_ref().to_owned(), v.arg(cx)))
                .collect(),
        )
    }
}

impl<K: AsRef<str>, T: ArgValue, S> ArgValue for HashMap<K, T, S> {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        // Sorted: a map's iteration order must not look like a change.
        let sorted: BTreeMap<&str, Value> =
            self.iter().map(|(k, v)| (k.as_ref(), v.arg(cx))).collect();
        json!(sorted)
    }
}

impl<A: ArgValue, B: ArgValue> ArgValue for (A, B) {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        Value::Array(vec![self.0.arg(cx), self.1.arg(cx)])
    }
}

/// A reference is recorded as the model path it points at: pointing elsewhere is a change, and a
/// replacement of what it points at is propagated by the plan.
impl<T> ArgValue for Ref<T> {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        if !cx.refs {
            return Value::Null;
        }
        json!({ "ref": cx.path(self) })
    }
}

impl<T> ArgValue for Out<T> {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        if !cx.refs {
            return Value::Null;
        }
        json!({ "ref": cx.path(self), "output": self.attr() })
    }
}

impl ArgValue for VarRef {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        match (cx.var)(self) {
            Some(v) => Value::String(v),
            None => json!({ "var": self.name() }),
        }
    }
}

impl<T: ArgValue> ArgValue for Val<T> {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        match self {
            Val::Lit(v) => v.arg(cx),
            Val::Out(o) => o.arg(cx),
            Val::Var(v) => v.arg(cx),
            // Never provisioned (the pre-flight refuses it); recorded as written for the plan.
            Val::Invalid { text, .. } => Value::String(text.clone()),
        }
    }
}

/// A secret is recorded only as a salted SHA-256, so a changed password is a change and the state
/// still holds nothing that reveals it.
impl ArgValue for Secret {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(cx.salt.as_bytes());
        h.update([0]);
        h.update(self.expose().as_bytes());
        let mut hex = String::with_capacity(64);
        for b in h.finalize() {
            let _ = write!(hex, "{b:02x}");
        }
        json!({ "secret": format!("sha256:{hex}") })
    }
}

/// How a change of a resource's arguments is applied: the arguments that the proxy updates in
/// place (every other one forces a replacement), and whether the replacement may exist beside
/// the old resource for a while. Declared once per resource type, with
/// `#[resource(update(arg, …), create_before_destroy)]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangePolicy {
    /// Arguments updated in place.
    pub update_in_place: &'static [&'static str],
    /// Create the replacement first, then delete the old resource (the cloud allows two at once);
    /// otherwise the old one is deleted first.
    pub create_before_destroy: bool,
}

impl ChangePolicy {
    /// Every change forces a replacement, old resource deleted first.
    pub const REPLACE: ChangePolicy = ChangePolicy {
        update_in_place: &[],
        create_before_destroy: false,
    };

    /// Whether a change of `arg` is applied in place.
    pub fn updates_in_place(&self, arg: &str) -> bool {
        self.update_in_place.contains(&arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_record_their_elements_and_maps_are_sorted() {
        let cx = ArgCx::detached();
        let m: HashMap<String, u32> = [("b".into(), 2), ("a".into(), 1)].into();
        assert_eq!(m.arg(&cx).to_string(), r#"{"a":1,"b":2}"#);
        assert_eq!(
            vec![Some("x".to_string()), None].arg(&cx),
            json!(["x", null])
        );
        assert_eq!(Val::Lit(3u8).arg(&cx), json!(3));
    }

    #[test]
    fn secrets_are_salted_hashes() {
        let s = Secret::new("hunter2");
        let (var, path) = (|_: &VarRef| None, |_: At| String::new());
        let (a, b) = (
            ArgCx::new(&path, &var, "salt-a"),
            ArgCx::new(&path, &var, "salt-b"),
        );
        let ha = s.arg(&a).to_string();
        assert!(!ha.contains("hunter2") && ha.contains("sha256:"));
        assert_ne!(ha, s.arg(&b).to_string());
        assert_eq!(ha, Secret::new("hunter2").arg(&a).to_string());
    }

    #[test]
    fn a_context_reading_variables_sees_them_and_names_no_reference() {
        let read = std::cell::RefCell::new(Vec::new());
        let var = |v: &VarRef| {
            read.borrow_mut().push(v.name());
            None
        };
        let cx = ArgCx::reading_vars(&var);
        let out: Val<String> = Val::Out(Out::new(At::UNPLACED, "id"));
        let args = vec![
            out,
            Val::Var(VarRef::new(At::UNPLACED, "MEM")),
            Val::Lit("2048".into()),
        ];
        assert_eq!(args.arg(&cx), json!([null, {"var": "MEM"}, "2048"]));
        assert_eq!(Ref::<String>::new(At::UNPLACED).arg(&cx), Value::Null);
        assert_eq!(*read.borrow(), ["MEM"]);
    }
}
