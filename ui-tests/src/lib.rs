//! Compile-fail UI tests for actuator's macros live in `tests/ui/`: each `<rule>.rs` must fail to
//! compile with exactly the diagnostic in its `<rule>.stderr`. Run them with
//! `cargo test -p actuator-ui-tests`; regenerate with `TRYBUILD=overwrite` after reading the diff.

pub mod scale;
