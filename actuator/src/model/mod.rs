//! The declaration layer's core: identities, typed paths and references, keyed containers, the
//! context component expressions see, and selection queries.

pub mod args;
pub mod build;
pub mod codegen;
mod ids;
pub mod query;
mod refs;
mod tree;
mod values;
pub mod vars;

pub use build::{
    Class, ClassLevel, Comp, Component, Ctx, Env, FromAt, GetError, Group, Instance, InstancePath,
    Keyed, Located, Make, Members, Model, Multi, MultiPath, Relocate, Shared, Unbound, Within,
    build_leaf, push_node,
};
pub use codegen::Paths;
pub use ids::{At, InstanceKey, IntoInstanceKey, ModelId, Step};
pub use query::Query;
pub(crate) use refs::unparsable;
pub use refs::{IntoRef, IntoRefs, IntoVal, Out, Ref, Refs, Unparsed, Val};
pub use tree::{Element, FindError, ModelKind, MultiNode, Node, NodeKind, Tree, World};
pub use values::{Cidr, CidrError, EmptyId, Id, Port};
