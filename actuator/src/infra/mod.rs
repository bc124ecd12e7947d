//! Infra models: resources, groups and keyed containers (`#[derive(InfraModel)]`).
//!
//! ```
//! use actuator::prelude::*;
//! use actuator::infra::test::{Network, Server};
//!
//! #[derive(InfraModel)]
//! struct Grid {
//!     #[component(Network::new("net"))]
//!     net: Network,
//!     #[component(MultiResource::new(Server::new("worker", "ubuntu-24.04").nics([ctx.model.net])))]
//!     workers: MultiResource<Server>,
//! }
//!
//! let grid = Grid::instance("g");
//! let w3 = grid.index(grid.root().workers, 3);
//! assert_eq!(grid.name(&w3), "worker_3");
//! assert_eq!(grid.path(&w3), ["workers", "3"]);
//! ```

pub mod test;

mod static_server;

pub use static_server::{StaticServer, StaticServerPath};

use crate::model::{Group, Multi};

/// A fixed group of resources declared by a `#[derive(ResourceGroup)]` type.
pub type ResourceGroup<G> = Group<G>;
/// A keyed container of resources: each new key clones the template.
pub type MultiResource<T> = Multi<T>;
/// A keyed container of resource groups.
pub type MultiResourceGroup<G> = Multi<Group<G>>;
