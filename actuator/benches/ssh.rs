//! SSH benchmark (being written).
fn main() {}
