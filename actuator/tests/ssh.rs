//! SSH integration tests (being written).
