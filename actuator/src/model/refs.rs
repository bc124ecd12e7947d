//! Stored references: what a component's arguments hold once its expression has been evaluated.
//!
//! Typed paths (generated per component type) are what expressions write; arguments store the compact
//! [`Ref<T>`] and [`Out<T>`]. Every reference an argument holds, at any depth, is reported by
//! [`Refs::visit_refs`], and each one is a dependency edge of the model.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::build::{FromAt, Located};
use super::ids::At;
use super::values::{Cidr, Id, Port};

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
    /// The same output read as text, for free-form arguments (tags, metadata) that take any
    /// value: `ctx.model.net.id.text()`.
    pub fn text(self) -> Out<String> {
        Out::new(self.at, self.attr)
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
///
/// A literal may be written as text where its type parses from text (`"10.0.0.0/16"` for a
/// `Val<Cidr>`); text that does not parse becomes [`Val::Invalid`], which the pre-flight reports
/// with the model path, the argument and the value before any cloud call.
#[derive(Clone, PartialEq, Debug)]
pub enum Val<T> {
    /// A literal value.
    Lit(T),
    /// Another component's output.
    Out(Out<T>),
    /// A namespace variable (`ctx.nexus.ns.v.NAME`), expanded when the value is needed.
    Var(crate::model::vars::VarRef),
    /// A literal written as text that does not parse as a `T`. Kept, not a panic while the model
    /// is built, so the pre-flight can report every such mistake at once.
    Invalid {
        /// The text as written.
        text: String,
        /// Why it does not parse.
        error: String,
    },
}

impl<T: FromStr> Val<T>
where
    T::Err: fmt::Display,
{
    /// A literal written as text: [`Val::Lit`] if it parses as a `T`, else [`Val::Invalid`].
    ///
    /// ```
    /// use actuator::model::{Cidr, Val};
    ///
    /// assert!(matches!(Val::<Cidr>::parse("10.0.0.0/16"), Val::Lit(_)));
    /// assert!(matches!(Val::<Cidr>::parse("10.0.0.0/33"), Val::Invalid { .. }));
    /// ```
    pub fn parse(text: &str) -> Self {
        match text.parse() {
            Ok(v) => Val::Lit(v),
            Err(e) => Val::Invalid {
                text: text.to_owned(),
                error: e.to_string(),
            },
        }
    }
}

/// How a literal written as text that does not parse is reported ([`Val::Invalid`]), wherever
/// it is found: `"10.0.0.0/33" does not parse: prefix `33` is not a length from 0 to 32`.
pub(crate) fn unparsable(text: &str, error: &str) -> String {
    format!("{text:?} does not parse: {error}")
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
/// Literals of the value types, as themselves or as text (parsed; see [`Val::parse`]).
macro_rules! val_from_text {
    ($([$($g:tt)*] $t:ty),* $(,)?) => {$(
        impl<$($g)*> From<$t> for Val<$t> {
            fn from(v: $t) -> Self { Val::Lit(v) }
        }
        impl<$($g)*> From<&str> for Val<$t> {
            fn from(s: &str) -> Self { Val::parse(s) }
        }
        impl<$($g)*> From<String> for Val<$t> {
            fn from(s: String) -> Self { Val::parse(&s) }
        }
        impl<$($g)*> IntoVal<$t> for $t {
            fn into_val(self) -> Val<$t> { Val::Lit(self) }
        }
        impl<$($g)*> IntoVal<$t> for &str {
            fn into_val(self) -> Val<$t> { Val::parse(self) }
        }
        impl<$($g)*> IntoVal<$t> for String {
            fn into_val(self) -> Val<$t> { Val::parse(&self) }
        }
    )*};
}
val_from_text!([] IpAddr, [] Cidr, [R: ?Sized] Id<R>);

impl From<Ipv4Addr> for Val<IpAddr> {
    fn from(a: Ipv4Addr) -> Self {
        Val::Lit(a.into())
    }
}
impl From<Ipv6Addr> for Val<IpAddr> {
    fn from(a: Ipv6Addr) -> Self {
        Val::Lit(a.into())
    }
}
impl From<Port> for Val<Port> {
    fn from(p: Port) -> Self {
        Val::Lit(p)
    }
}
impl From<u16> for Val<Port> {
    fn from(p: u16) -> Self {
        Val::Lit(Port(p))
    }
}
macro_rules! val_from_num {
    ($($t:ty),*) => {$(
        impl From<$t> for Val<$t> { fn from(v: $t) -> Self { Val::Lit(v) } }
        impl IntoVal<$t> for $t { fn into_val(self) -> Val<$t> { Val::Lit(self) } }
    )*};
}
val_from_num!(u16, u32, u64, i32, i64, bool);

/// A value for an argument of type `T`: a literal `T` (or its text), another component's output
/// of type `T` (`ctx.model.server.ip` for an address), or a namespace variable.
///
/// Constructors take `impl IntoVal<T>`, so an output of another type (a network's id where an
/// address is expected, a subnet's id where a VPC's is) does not compile. One impl per source
/// type rather than a blanket one over `Into<Val<T>>`: a blanket impl would hide this message
/// behind rustc's note about `From`.
///
/// ```
/// use std::net::IpAddr;
/// use actuator::model::{IntoVal, Val};
///
/// fn fixed_ip(ip: impl IntoVal<IpAddr>) -> Val<IpAddr> { ip.into_val() }
/// assert_eq!(fixed_ip("10.0.0.5"), Val::Lit("10.0.0.5".parse().unwrap()));
/// assert!(matches!(fixed_ip("ten"), Val::Invalid { .. }));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a value of type `{T}`",
    label = "expected a value of type `{T}` here",
    note = "give a literal, an output of type `{T}` (e.g. `ctx.model.<field>.<output>`) or a namespace variable",
    note = "an id is not an address, and one resource kind's id is not another's; a free-form text argument takes any output as `<output>.text()`"
)]
pub trait IntoVal<T> {
    /// The argument value.
    fn into_val(self) -> Val<T>;
}

impl<T> IntoVal<T> for Val<T> {
    fn into_val(self) -> Val<T> {
        self
    }
}
impl<T> IntoVal<T> for Out<T> {
    fn into_val(self) -> Val<T> {
        Val::Out(self)
    }
}
impl<T> IntoVal<T> for crate::model::vars::VarRef {
    fn into_val(self) -> Val<T> {
        Val::Var(self)
    }
}
impl IntoVal<String> for &str {
    fn into_val(self) -> Val<String> {
        Val::Lit(self.to_owned())
    }
}
impl IntoVal<String> for String {
    fn into_val(self) -> Val<String> {
        Val::Lit(self)
    }
}
impl IntoVal<IpAddr> for Ipv4Addr {
    fn into_val(self) -> Val<IpAddr> {
        Val::Lit(self.into())
    }
}
impl IntoVal<IpAddr> for Ipv6Addr {
    fn into_val(self) -> Val<IpAddr> {
        Val::Lit(self.into())
    }
}
impl IntoVal<Port> for Port {
    fn into_val(self) -> Val<Port> {
        Val::Lit(self)
    }
}
impl IntoVal<Port> for u16 {
    fn into_val(self) -> Val<Port> {
        Val::Lit(Port(self))
    }
}

/// Walks a value for the references it holds: implemented for references, outputs, containers and
/// plain data. `#[derive(Resource)]` requires it of every argument.
pub trait Refs {
    /// Calls `f` for every reference inside.
    fn visit_refs(&self, f: &mut dyn FnMut(At));
    /// Calls `f` for every typed value inside whose text the pre-flight checks: a literal
    /// written as text that does not parse ([`Val::Invalid`]), and a variable ([`Val::Var`]),
    /// whose value must parse as the argument's type once it is known.
    fn visit_unparsed(&self, f: &mut dyn FnMut(Unparsed<'_>)) {
        let _ = f;
    }
}

/// A typed value whose text the pre-flight checks ([`Refs::visit_unparsed`]).
pub enum Unparsed<'a> {
    /// A literal written as text that does not parse as its type.
    Text {
        /// The text as written.
        text: &'a str,
        /// Why it does not parse.
        error: &'a str,
    },
    /// A variable given for a typed argument.
    Var {
        /// The variable.
        var: &'a crate::model::vars::VarRef,
        /// Parses a value as the argument's type: `Err` says why it does not.
        parse: &'a dyn Fn(&str) -> Result<(), String>,
    },
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
impl<T: Refs + FromStr> Refs for Val<T>
where
    T::Err: fmt::Display,
{
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        match self {
            Val::Lit(v) => v.visit_refs(f),
            Val::Out(o) => o.visit_refs(f),
            // A variable is not a component: its value may read outputs, but those are resolved
            // when the value is needed, after everything it names exists.
            Val::Var(_) | Val::Invalid { .. } => {}
        }
    }
    fn visit_unparsed(&self, f: &mut dyn FnMut(Unparsed<'_>)) {
        match self {
            Val::Lit(v) => v.visit_unparsed(f),
            Val::Invalid { text, error } => f(Unparsed::Text { text, error }),
            Val::Var(var) => f(Unparsed::Var {
                var,
                parse: &|s| s.parse::<T>().map(drop).map_err(|e| e.to_string()),
            }),
            Val::Out(_) => {}
        }
    }
}
impl<T: Refs> Refs for Vec<T> {
    fn visit_unparsed(&self, f: &mut dyn FnMut(Unparsed<'_>)) {
        self.iter().for_each(|v| v.visit_unparsed(f))
    }
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        self.iter().for_each(|v| v.visit_refs(f))
    }
}
impl<T: Refs> Refs for Option<T> {
    fn visit_unparsed(&self, f: &mut dyn FnMut(Unparsed<'_>)) {
        if let Some(v) = self {
            v.visit_unparsed(f)
        }
    }
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        if let Some(v) = self {
            v.visit_refs(f)
        }
    }
}
impl<T: Refs + ?Sized> Refs for Box<T> {
    fn visit_unparsed(&self, f: &mut dyn FnMut(Unparsed<'_>)) {
        (**self).visit_unparsed(f)
    }
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        (**self).visit_refs(f)
    }
}
impl<K, V: Refs, S> Refs for HashMap<K, V, S> {
    fn visit_unparsed(&self, f: &mut dyn FnMut(Unparsed<'_>)) {
        self.values().for_each(|v| v.visit_unparsed(f))
    }
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        self.values().for_each(|v| v.visit_refs(f))
    }
}
impl<K, V: Refs> Refs for BTreeMap<K, V> {
    fn visit_unparsed(&self, f: &mut dyn FnMut(Unparsed<'_>)) {
        self.values().for_each(|v| v.visit_unparsed(f))
    }
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        self.values().for_each(|v| v.visit_refs(f))
    }
}
impl<A: Refs, B: Refs> Refs for (A, B) {
    fn visit_unparsed(&self, f: &mut dyn FnMut(Unparsed<'_>)) {
        self.0.visit_unparsed(f);
        self.1.visit_unparsed(f);
    }
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
    Cidr,
    Port,
    std::path::PathBuf,
    // A password or key as a resource argument: recorded as a salted hash, refers to nothing.
    crate::secret::Secret
);
impl<R: ?Sized> Refs for Id<R> {
    fn visit_refs(&self, _: &mut dyn FnMut(At)) {}
}
