use actuator::prelude::*;

#[derive(InfraModel)]
enum Cluster {
    Small,
    Large,
}

fn main() {}
