//! # Actuator
//!
//! Declare a whole system as typed Rust models — its infrastructure, a namespace of roles, hosts and
//! variables, and the configuration tasks to run on those hosts — and have mistakes in the model
//! rejected by the compiler.
//!
//! * [`infra`]: `#[derive(InfraModel)]` structs of resources, groups and keyed containers.
//! * [`namespace`](mod@namespace): `namespace!` roles with `host_ref`s into the infra and `!{VAR}` variables.
//! * [`config`](mod@config): `config!` tasks bound to roles, ordered with `a | b` and `a & b`.
//! * [`model`]: the typed paths, references and context all three share.
//!
//! The runtime layer (used by the orchestrator, which never reaches into the declaration layer's
//! internals): [`engine`], the DAG scheduler shared by provisioning, configuration and teardown, and
//! [`state`], the append-only journal of what was done.
//!
//! ```
//! use actuator::prelude::*;
//! use actuator::infra::test::{Network, Server};
//!
//! #[derive(InfraModel)]
//! struct Cluster {
//!     #[component(Network::new("net"))]
//!     net: Network,
//!     #[component(MultiResource::new(Server::new("node", "debian-12").nics([ctx.model.net])))]
//!     nodes: MultiResource<Server>,
//! }
//!
//! namespace! {
//!     struct Grid for Cluster {
//!         vars { NODE_NAME = "node-!{NODE_ID}" }
//!         grid: MultiRole = MultiRole::new(
//!             Role::new("worker").host_ref(infra.nodes[ctx.name]).var("NODE_ID", ctx.name)),
//!     }
//! }
//!
//! let infra = Cluster::instance("c");
//! let ns = Grid::instance("g", &infra);
//! let r7 = ns.index(ns.root().grid, 7);          // growing the namespace …
//! assert_eq!(infra.keys(infra.root().nodes).len(), 1); // … grows the infra
//! assert_eq!(ns.var_value(&r7, "NODE_NAME").unwrap(), "node-7");
//! ```
#![warn(missing_docs)]

// Lets the derives, which name `::actuator`, be used inside this crate too.
extern crate self as actuator;

pub mod cli;
pub mod config;
pub mod dag;
pub mod engine;
pub mod events;
pub mod exec;
pub mod infra;
pub mod model;
pub mod namespace;
pub mod orchestrate;
pub mod provision;
pub mod secret;
pub mod state;

pub use actuator_macros::{InfraModel, Resource, ResourceGroup, config, namespace};

/// Everything a model file needs.
pub mod prelude {
    pub use crate::cli;
    pub use crate::config::{
        CommandTask, ConfigClassTask, ConfigModel, CopyFileTask, Dep, LocalCommandTask,
        LocalShellCommandTask, MultiTask, NullTask, PingTask, ProcessCopyFileTask, ScriptTask,
        ShellTask, Task,
    };
    pub use crate::infra::{MultiResource, MultiResourceGroup, ResourceGroup, StaticServer};
    pub use crate::model::{Instance, IntoKey, Key, Located, Model, Out, Query, Ref, Val};
    pub use crate::namespace::{MultiRole, MultiRoleGroup, RoleGroup};
    pub use crate::namespace::{NamespaceModel, Role, Var};
    pub use crate::orchestrate::ActuatorOrchestration;
    pub use crate::secret::Secret;
    pub use crate::{InfraModel, Resource, ResourceGroup, config, namespace};
}

/// What generated code reaches; not a public API (it changes with the macros' version).
#[doc(hidden)]
pub mod __private {
    pub use crate::__leaf_component;
    pub use crate::config::{ConfigDefaults, ConfigModel};
    pub use crate::model::args::{ArgCx, ArgValue, Args, ChangePolicy};
    pub use crate::model::build::NamespaceMembers;
    pub use crate::model::build::{__index, __instantiate, model_id, new_world};
    pub use crate::model::codegen::{
        BuildMember, Layout, Member, Scope, Up, VarDef, build_table, edge_table, layout_table,
        offsets, path, total, var_table,
    };
    pub use crate::model::{
        At, Comp, Component, Ctx, Element, Env, FromAt, Group, Instance, IntoRef, Located, Members,
        Model, ModelId, ModelKind, Node, Out, Paths, Ref, Refs, Shared, Step, Unbound, Within,
    };
    pub use crate::namespace::DeclaresVars;
    pub use crate::namespace::{
        Addressable, NamespaceModel, NoInfra, Var, VarRef, VarSet, VarValue, infra_path, set_vars,
    };
    pub use std::sync::Arc;
}
