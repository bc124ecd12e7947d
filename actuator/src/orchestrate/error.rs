//! [`OrchestrationError`]: why a query or a state operation of an
//! [`ActuatorOrchestration`](super::ActuatorOrchestration) failed.
//!
//! Runs (`initiate_system`, `apply`, `teardown_system`, `refresh`) report their failures as
//! [`RunFailure`](super::RunFailure)s instead: a run goes on past one failed resource, these
//! calls stop at the first error.

use crate::state;

/// Why `plan`, `state`, `outputs`, `state_mv`, `import`, `discover`, `pull_state`,
/// `push_state`, `force_unlock` or `state_location` failed.
///
/// The variants say whose fault it is, which is what a front end needs to choose its answer
/// (the command line's exit codes: 3 for [`State`](Self::State), [`ForeignState`](Self::ForeignState),
/// [`NoSharedState`](Self::NoSharedState), [`StateOpen`](Self::StateOpen) and
/// [`Model`](Self::Model); 1 for [`Path`](Self::Path) and [`Cloud`](Self::Cloud)). `Display` is
/// the whole message, worded for the user; none holds a secret.
///
/// ```
/// use actuator::orchestrate::{ActuatorOrchestration, OrchestrationError};
///
/// let mut o = ActuatorOrchestration::new("web").memory_state();
/// let err = o.force_unlock("lease-1").unwrap_err();
/// assert!(matches!(err, OrchestrationError::NoSharedState(_)));
/// assert_eq!(err.to_string(), "a memory state has no lease");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrchestrationError {
    /// The state cannot be opened, read or written: locked or leased by another run, damaged
    /// (a gap in the journal, an unreadable snapshot), on a directory others can write to,
    /// read-only for a write, unreachable, or a `state push` refused.
    #[error(transparent)]
    State(#[from] state::Error),
    /// The state at the chosen location belongs to another system or workspace.
    #[error(
        "this state belongs to {what} `{theirs}`, not `{mine}`; choose its own state \
         (--state, --workspace)"
    )]
    ForeignState {
        /// `system` or `workspace`.
        what: &'static str,
        /// The name the state records.
        theirs: String,
        /// This orchestration's name.
        mine: String,
    },
    /// The operation needs a state kept somewhere (a lease to free, a store to push to), and
    /// this orchestration keeps its state in memory ([`memory_state`](super::ActuatorOrchestration::memory_state)).
    #[error("{0}")]
    NoSharedState(&'static str),
    /// `push_state` on an orchestration that has its state open already: a push replaces the
    /// state under a journal that would then be out of date.
    #[error("this orchestration has the state open; push from a fresh one")]
    StateOpen,
    /// The model cannot be used as given: no model or no infra where one is needed, no proxy for
    /// a resource's kind, a resource or task the plan cannot be made for. Found before any cloud
    /// call.
    #[error("{0}")]
    Model(String),
    /// The model path an operation names does not fit the model or the state: `state_mv` from a
    /// path the state does not record or to one it does, `import` to a path the model has no
    /// resource at or the state records already.
    #[error("{0}")]
    Path(String),
    /// A cloud call failed: a resource a plan's refresh could not read (each is also in
    /// [`failures`](super::ActuatorOrchestration::failures)), or the proxy's import or discover
    /// call.
    #[error("{0}")]
    Cloud(String),
}
