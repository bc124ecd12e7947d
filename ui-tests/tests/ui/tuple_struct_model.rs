use actuator::infra::test::Network;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster(Network);

fn main() {}
