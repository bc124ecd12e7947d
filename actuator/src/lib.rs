//! # Actuator
//!
//! Declare a whole system as typed Rust models — its infrastructure, a namespace of roles, hosts and
//! variables, and the configuration tasks to run on those hosts — and have mistakes in the model
//! rejected by the compiler. An orchestrator then provisions it, configures its hosts and tears it
//! down, journalling every step so that a run cut short resumes.
//!
//! ## The layers
//!
//! **Declaration** — what the system is; builds no cloud client and runs nothing:
//! * [`infra`]: `#[derive(InfraModel)]` structs of resources, groups and keyed containers.
//! * [`namespace`](mod@namespace): `namespace!` roles with `host_ref`s into the infra and `!{VAR}` variables.
//! * [`config`](mod@config): `config!` tasks bound to roles, ordered with `a | b` and `a & b`.
//! * [`model`]: the typed paths, references and context all three share.
//!
//! **Runtime** — how it is carried out; knows the models only through their records:
//! * [`engine`] (over [`dag`]): the DAG scheduler shared by provisioning, configuration and
//!   teardown, with concurrency limits and retries.
//! * [`provision`]: the [`ProvisionerProxy`](provision::ProvisionerProxy) contract a cloud
//!   implements, with [`StaticProxy`](provision::StaticProxy) for hosts that already exist and
//!   [`SimProxy`](provision::SimProxy), a simulated cloud.
//! * [`exec`]: the [`ExecAgent`](exec::ExecAgent) contract that runs tasks on hosts, with
//!   [`LocalAgent`](exec::LocalAgent) for this machine.
//! * [`state`]: the append-only journal of what was done; [`events`]: what a run reports.
//!
//! **Front** — [`orchestrate`]'s [`ActuatorOrchestration`](orchestrate::ActuatorOrchestration)
//! (plan, up, down, refresh, state operations) and [`cli`], the ready-made command line a model
//! binary's `main` hands its orchestration to ([`cli::main`]).
//!
//! Clouds, transports and stores are crates of their own, each depending on `actuator` and its
//! own SDK only: [`actuator-ssh`](https://docs.rs/actuator-ssh) (the SSH agent),
//! [`actuator-aws`](https://docs.rs/actuator-aws), [`actuator-azure`](https://docs.rs/actuator-azure)
//! and [`actuator-openstack`](https://docs.rs/actuator-openstack) (provisioner proxies), and
//! [`actuator-postgres`](https://docs.rs/actuator-postgres) (a shared state store). The macros
//! live in [`actuator-macros`](https://docs.rs/actuator-macros), the `!{NAME}` template language in
//! [`actuator-template`](https://docs.rs/actuator-template).
//!
//! ## Running a system
//!
//! A server on a network, a role on the server whose variables read the server's address, and
//! a task that writes a file from a template; provisioned on the simulated cloud, configured by
//! the local agent, then torn down:
//!
//! ```
//! use std::sync::Arc;
//! use actuator::prelude::*;
//! use actuator::infra::test::{Network, Server};
//! use actuator::provision::SimProxy;
//!
//! #[derive(InfraModel)]
//! struct Lab {
//!     #[component(Network::new("net"))]
//!     net: Network,
//!     #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
//!     web: Server,
//! }
//!
//! namespace! {
//!     struct Site for Lab {
//!         extern { OUT }   // given when the system is run
//!         vars { WEB_IP = infra.web.ip, GREETING = "hello from !{WEB_IP}" }
//!         web: Role = Role::new("web").host_ref(infra.web),
//!     }
//! }
//!
//! config! {
//!     struct Setup for Site {
//!         greet: Task = ProcessCopyFileTask::new("greet", "!{OUT}")
//!             .content("!{GREETING}\n")
//!             .role(ns.web),
//!     }
//! }
//!
//! let dir = tempfile::tempdir().unwrap();
//! let out = dir.path().join("greeting.txt");
//! let infra = Lab::instance("lab");
//! let ns = Site::instance("site", &infra);
//! let cfg = Setup::instance("setup", &ns);
//! let sim = Arc::new(SimProxy::default());
//! let mut orch = ActuatorOrchestration::new("doc-lab")
//!     .infra(&infra)
//!     .namespace(&ns)
//!     .config(&cfg)
//!     .var("OUT", out.display().to_string())
//!     .proxy(sim.clone()) // one per cloud; the local agent is the default
//!     .memory_state(); // a model binary keeps it in .actuator/<system>/<workspace>/
//!
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! assert!(rt.block_on(orch.initiate_system()), "{:?}", orch.failures()); // up
//! assert_eq!(sim.live().len(), 2);
//! let greeting = std::fs::read_to_string(&out).unwrap();
//! assert!(greeting.starts_with("hello from 127.0."), "{greeting}"); // the simulated address
//!
//! assert!(rt.block_on(orch.teardown_system()), "{:?}", orch.failures()); // down
//! assert!(sim.live().is_empty());
//! assert_eq!(orch.summary().destroyed, 2);
//! ```
//!
//! ## Growing a model
//!
//! Keyed containers grow on first use, across models: indexing a role into a namespace creates
//! the infra it points at.
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
mod parallel;
pub mod provision;
pub mod secret;
pub mod state;
#[cfg(test)]
mod test_util;

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
    pub use crate::model::{
        Cidr, Id, Instance, InstanceKey, IntoInstanceKey, IntoVal, Located, Model, Out, Port,
        Query, Ref, Val,
    };
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
    pub use crate::config::{ConfigDefaults, ConfigModel, nests_in};
    pub use crate::model::args::{ArgCx, ArgValue, Args, ChangePolicy};
    pub use crate::model::build::NamespaceMembers;
    pub use crate::model::build::{__index, __instantiate, model_id, new_world};
    pub use crate::model::codegen::{
        BuildMember, BuildScope, Layout, Member, Up, VarDef, build_table, edge_table, enclosed,
        layout_table, offsets, parent_of_first, path, place, total, var_table,
    };
    pub use crate::model::{
        At, Comp, Component, Ctx, Element, Env, FromAt, Group, Instance, IntoRef, Located, Members,
        Model, ModelId, ModelKind, Node, Out, Paths, Ref, Refs, Shared, Step, Unbound, Unparsed,
        Within,
    };
    pub use crate::namespace::DeclaresVars;
    pub use crate::namespace::{
        DeclaredNamespace, HostRef, IntoHost, NamespaceModel, NoInfra, Undeclared, Var, VarRef,
        VarSet, VarValue, infra_path, namespace_admitted, namespace_of, set_vars,
    };
    pub use crate::secret::Secret;
    pub use std::sync::Arc;
}
