use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster<R> {
    #[component]
    hosts: MultiResource<R>,
}

fn main() {}
