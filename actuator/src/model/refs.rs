//! Stored references: what a component's arguments hold once its expression has been evaluated.
//!
//! Typed paths (generated per component type) are what expressions write; arguments store the compact
//! [`Ref<T>`] and [`Out<T>`]. Every reference an argument holds, at any depth, is reported by
//! [`Refs::visit_refs`], and each one is a dependency edge of the model.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

use super::build::{FromAt, Located};
use super::ids::At;

/// A reference to a component of kind `T` (a resource, role, task or group).
pub struct Ref<T: ?Sized> {
    at: At,
    _t: PhantomData<fn() -> T>,
}

impl<T: ?Sized> Ref<T> {
    /// The reference to the component at `at` (generated code and tests).
    pub fn new(at: At) -> Self {
        Ref {
            at,
            _t: PhantomData,
        }
    }
}
impl<T: ?Sized> Clone for Ref<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ?Sized> Copy for Ref<T> {}
impl<T: ?Sized> PartialEq for Ref<T> {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at
    }
}
impl<T: ?Sized> Eq for Ref<T> {}
impl<T: ?Sized> std::hash::Hash for Ref<T> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.at.hash(h)
    }
}
impl<T: ?Sized> fmt::Debug for Ref<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref({:?}:{})", self.at.model, self.at.node)
    }
}
impl<T: ?Sized> Located for Ref<T> {
    fn at(&self) -> At {
        self.at
    }
}
impl<T: ?Sized> FromAt for Ref<T> {
    fn from_at(at: At) -> Self {
        Ref::new(at)
    }
}

/// Conversion of a typed path into a stored reference to a `T`.
///
/// Generated for every component's path type, one impl per type (a blanket impl would hide this
/// message behind an opaque type mismatch).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reference to a `{T}` component",
    label = "expected a reference to a `{T}` here",
    note = "pass a path to a `{T}` declared in the model, e.g. `ctx.model.<field>`"
)]
pub trait IntoRef<T: ?Sized> {
    /// The stored reference.
    fn into_ref(self) -> Ref<T>;
}

impl<T: ?Sized> IntoRef<T> for Ref<T> {
    fn into_ref(self) -> Ref<T> {
        self
    }
}

/// A list of references to `T`s: an array or a `Vec` of typed paths (`[ctx.model.a, ctx.model.b]`).
///
/// A method taking `impl IntoRefs<T>` rather than `impl IntoIterator<Item = impl IntoRef<T>>` is
/// what makes rustc report a path of the wrong kind at the list the user wrote, not at the
/// method's name.
///
/// ```
/// use actuator::model::{At, IntoRefs, ModelId, Ref};
///
/// struct Net;
/// let at = At::root(ModelId::fresh());
/// let refs = [Ref::<Net>::new(at), Ref::new(at)].into_refs();
/// assert_eq!(refs.len(), 2);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of references to `{T}` components",
    label = "expected a list of references to `{T}`s here",
    note = "give an array or a `Vec` of paths to `{T}`s declared in the model, e.g. `[ctx.model.<field>]`"
)]
pub trait IntoRefs<T: ?Sized> {
    /// The stored references, in order.
    fn into_refs(self) -> Vec<Ref<T>>;
}

impl<T: ?Sized, R: IntoRef<T>, const N: usize> IntoRefs<T> for [R; N] {
    fn into_refs(self) -> Vec<Ref<T>> {
        self.into_iter().map(IntoRef::into_ref).collect()
    }
}

impl<T: ?Sized, R: IntoRef<T>> IntoRefs<T> for Vec<R> {
    fn into_refs(self) -> Vec<Ref<T>> {
        self.into_iter().map(IntoRef::into_ref).collect()
    }
}

/// A value a component only has after provisioning (an id, an IP address), typed by `T`.
pub struct Out<T> {
    at: At,
    attr: &'static str,
    _t: PhantomData<fn() -> T>,
}

impl<T> Out<T> {
    /// Output `attr` of the component at `at` (generated code).
    pub const fn new(at: At, attr: &'static str) -> Self {
        Out {
            at,
            attr,
            _t: PhantomData,
        }
    }
    /// The output's name, e.g. `"ip"`.
    pub fn attr(&self) -> &'static str {
        self.attr
    }
}
impl<T> Clone for Out<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Out<T> {}
impl<T> PartialEq for Out<T> {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.attr == o.attr
    }
}
impl<T> fmt::Debug for Out<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Out({:?}:{}.{})", self.at.model, self.at.node, self.attr)
    }
}
impl<T> Located for Out<T> {
    fn at(&self) -> At {
        self.at
    }
}

/// An argument that is either known now or an output of another component, resolved just before
/// the call that needs it.
#[derive(Clone, PartialEq, Debug)]
pub enum Val<T> {
    /// A literal value.
    Lit(T),
    /// Another component's output.
    Out(Out<T>),
    /// A namespace variable (`ctx.nexus.ns.v.NAME`), expanded when the value is needed.
    Var(crate::model::vars::VarRef),
}

impl<T> From<crate::model::vars::VarRef> for Val<T> {
    fn from(v: crate::model::vars::VarRef) -> Self {
        Val::Var(v)
    }
}

impl<T> From<Out<T>> for Val<T> {
    fn from(o: Out<T>) -> Self {
        Val::Out(o)
    }
}
impl From<&str> for Val<String> {
    fn from(s: &str) -> Self {
        Val::Lit(s.to_owned())
    }
}
impl From<String> for Val<String> {
    fn from(s: String) -> Self {
        Val::Lit(s)
    }
}
impl From<IpAddr> for Val<IpAddr> {
    fn from(s: IpAddr) -> Self {
        Val::Lit(s)
    }
}
macro_rules! val_from_num {
    ($($t:ty),*) => {$( impl From<$t> for Val<$t> { fn from(v: $t) -> Self { Val::Lit(v) } } )*};
}
val_from_num!(u16, u32, u64, i32, i64, bool);

/// Walks a value for the references it holds: implemented for references, outputs, containers and
/// plain data. `#[derive(Resource)]` requires it of every argument.
pub trait Refs {
    /// Calls `f` for every reference inside.
    fn visit_refs(&self, f: &mut dyn FnMut(At));
}

impl<T: ?Sized> Refs for Ref<T> {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        f(self.at)
    }
}
impl<T> Refs for Out<T> {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        f(self.at)
    }
}
impl<T: Refs> Refs for Val<T> {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        match self {
            Val::Lit(v) => v.visit_refs(f),
            Val::Out(o) => o.visit_refs(f),
            // A variable is not a component: its value may read outputs, but those are resolved
            // when the value is needed, after everything it names exists.
            Val::Var(_) => {}
        }
    }
}
impl<T: Refs> Refs for Vec<T> {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        self.iter().for_each(|v| v.visit_refs(f))
    }
}
impl<T: Refs> Refs for Option<T> {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        if let Some(v) = self {
            v.visit_refs(f)
        }
    }
}
impl<T: Refs + ?Sized> Refs for Box<T> {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        (**self).visit_refs(f)
    }
}
impl<K, V: Refs, S> Refs for HashMap<K, V, S> {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        self.values().for_each(|v| v.visit_refs(f))
    }
}
impl<K, V: Refs> Refs for BTreeMap<K, V> {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        self.values().for_each(|v| v.visit_refs(f))
    }
}
impl<A: Refs, B: Refs> Refs for (A, B) {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        self.0.visit_refs(f);
        self.1.visit_refs(f);
    }
}
macro_rules! no_refs {
    ($($t:ty),*) => {$( impl Refs for $t { fn visit_refs(&self, _: &mut dyn FnMut(At)) {} } )*};
}
no_refs!(
    String,
    &'static str,
    bool,
    u8,
    u16,
    u32,
    u64,
    usize,
    i32,
    i64,
    f64,
    IpAddr,
    std::path::PathBuf,
    // A password or key as a resource argument: recorded as a salted hash, refers to nothing.
    crate::secret::Secret
);
