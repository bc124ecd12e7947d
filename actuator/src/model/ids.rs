//! Identities: which model instance ([`ModelId`]), which node in it ([`At`]), and instance keys ([`InstanceKey`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Identifies one model instance (or one model type's class-level skeleton).
///
/// Ids are process-unique, so a reference taken from one instance can never be mistaken for a node of
/// another instance of the same model type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ModelId(pub(crate) u32);

impl ModelId {
    /// A fresh, never used id.
    pub fn fresh() -> ModelId {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        ModelId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Where a component lives: a model instance and a node of its tree.
///
/// The static part of a model (everything that is not inside a keyed container) is laid out
/// contiguously in declaration order, so a child's node is its parent's node plus a constant offset
/// computed at compile time; that is what makes typed paths free to build.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct At {
    /// The model instance.
    pub model: ModelId,
    /// The node inside that instance's tree.
    pub node: u32,
}

impl At {
    /// No place at all (no model has id 0): what a typed path holds before it is placed. Generated
    /// path constructors start from a constant of such paths and then place each member, so no
    /// generated function grows with the model.
    pub const UNPLACED: At = At {
        model: ModelId(0),
        node: u32::MAX,
    };
    /// The root node of `model`.
    pub const fn root(model: ModelId) -> At {
        At { model, node: 0 }
    }
    /// The node `n` places further on in the same model (used by generated code for static offsets).
    #[inline]
    pub const fn offset(self, n: u32) -> At {
        At {
            model: self.model,
            node: self.node + n,
        }
    }
}

/// The key of an instance inside a keyed container (`MultiResource`, `MultiRole`, …).
///
/// Keys are strings, as in the original: `grid[1]` and `grid["1"]` name the same instance.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceKey(Arc<str>);

impl InstanceKey {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for InstanceKey {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for InstanceKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Anything usable as an instance key: strings, integers, other keys. Conversion is `to_string`, so
/// `1`, `"1"` and `String::from("1")` are the same key.
///
/// ```
/// use actuator::model::{IntoInstanceKey, InstanceKey};
/// assert_eq!(1.into_key(), "1".into_key());
/// assert_eq!(String::from("7").into_key().as_str(), "7");
/// ```
pub trait IntoInstanceKey {
    /// The key this value names.
    fn into_key(self) -> InstanceKey;
}

impl IntoInstanceKey for InstanceKey {
    fn into_key(self) -> InstanceKey {
        self
    }
}
impl IntoInstanceKey for &InstanceKey {
    fn into_key(self) -> InstanceKey {
        self.clone()
    }
}
impl IntoInstanceKey for &str {
    fn into_key(self) -> InstanceKey {
        InstanceKey(Arc::from(self))
    }
}
impl IntoInstanceKey for &&str {
    fn into_key(self) -> InstanceKey {
        InstanceKey(Arc::from(*self))
    }
}
impl IntoInstanceKey for String {
    fn into_key(self) -> InstanceKey {
        InstanceKey(Arc::from(self))
    }
}
impl IntoInstanceKey for &String {
    fn into_key(self) -> InstanceKey {
        InstanceKey(Arc::from(self.as_str()))
    }
}
macro_rules! int_keys {
    ($($t:ty),*) => {$(
        impl IntoInstanceKey for $t {
            fn into_key(self) -> InstanceKey { InstanceKey(Arc::from(self.to_string())) }
        }
        impl IntoInstanceKey for &$t {
            fn into_key(self) -> InstanceKey { InstanceKey(Arc::from(self.to_string())) }
        }
    )*};
}
int_keys!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// One step of a model path: a field name or an instance key.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Step {
    /// The root of a model.
    Root,
    /// A named component (a struct field).
    Field(&'static str),
    /// An instance of a keyed container.
    Key(InstanceKey),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Root => Ok(()),
            Step::Field(s) => f.write_str(s),
            Step::Key(k) => f.write_str(k),
        }
    }
}
