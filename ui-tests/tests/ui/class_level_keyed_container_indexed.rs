use actuator::infra::test::Server;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Farm {
    #[component(MultiResource::new(Server::new("worker", "debian-12")))]
    workers: MultiResource<Server>,
}

fn main() {
    let farm = Farm::instance("farm");
    // Keyed instances exist only in model instances: index `farm.root().workers`, or convert
    // the class-level path with `farm.instance_ref(…)`.
    let _ = farm.index(Farm::class().map(|f| f.workers), 1);
}
