//! Actuator's execution engine.
//!
//! Resources and configuration tasks are nodes of a [`Dag`]; the engine
//! decides *when* each runs, never *what* running means:
//!
//! * [`dag`]: the graph, cycle detection, reversal for teardown.
//! * [`queue`]: synchronous ready-queue, longest remaining critical path first.
//! * [`limits`]: per-key concurrency limits and token buckets.
//! * [`retry`]: node errors and exponential backoff with jitter.
//! * [`walk`](mod@walk): the async walker that ties them together.

pub mod limits;
pub mod queue;
pub mod retry;
pub mod walk;

// The graph lives below both layers (the config graph orders its tasks with it too).
pub use crate::dag::{self, CycleError, Dag, NodeId};
pub use limits::{Limit, TokenBucket};
pub use retry::{AttemptError, Jitter, RetryPolicy};
pub use walk::{FnWork, NullObserver, Observer, WalkError, WalkOptions, WalkReport, Work, walk};

#[cfg(test)]
mod tests;
