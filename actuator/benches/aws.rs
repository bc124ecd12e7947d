//! The AWS example model against moto (being written).
fn main() {}
