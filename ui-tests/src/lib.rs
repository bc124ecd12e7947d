//! Tests of what actuator's macros generate, as users see it:
//!
//! * `tests/ui/`: compile-fail cases, each `<rule>.rs` failing with exactly the diagnostic in its
//!   `<rule>.stderr`; `tests/pass/`: input the macros must accept (and run). Run them with
//!   `cargo test -p actuator-ui-tests --test ui`; regenerate with `TRYBUILD=overwrite` after
//!   reading the diff.
//! * `tests/large_model.rs`: a 4,001-component model builds on the main thread and on a 2 MiB one.
//! * `benches/model_scale.rs`: how compile time, memory and binary size grow with the model.
//!
//! The library holds the large-model generator both use ([`scale`]).

pub mod scale;
