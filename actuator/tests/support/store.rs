//! Where the orchestrate and converge suites keep their states: a directory, or memory.
//!
//! The tests package runs the same suites on PostgreSQL: `tests/postgres.rs` includes those
//! files as modules and has a `store` module of its own at its root — which is why they import
//! `crate::store::StateAt` rather than this module by its own path.

use std::path::Path;

use actuator::orchestrate::ActuatorOrchestration;

/// How a test says where its state lives.
pub trait StateAt: Sized {
    /// The state kept at `dir`: another orchestration given the same `dir` finds it again.
    fn state_at(self, dir: impl AsRef<Path>) -> Self;
    /// A state of this orchestration's own, which nothing else sees.
    fn scratch_state(self) -> Self;
}

/// Loses the state kept at `dir`, as if its disk had died: the next orchestration given `dir`
/// starts a new, empty state.
pub fn lose(dir: &Path) {
    std::fs::remove_dir_all(dir).unwrap();
}

impl StateAt for ActuatorOrchestration {
    fn state_at(self, dir: impl AsRef<Path>) -> Self {
        self.state_dir(dir.as_ref())
    }
    fn scratch_state(self) -> Self {
        self.memory_state()
    }
}
