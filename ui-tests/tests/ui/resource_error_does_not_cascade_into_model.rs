use actuator::prelude::*;

#[derive(Resource, Clone, Debug)]
#[resource(kind = "cloud.Bucket", outputs(url: String), public)]
struct Bucket {
    name: String,
}

#[derive(InfraModel)]
struct Storage {
    #[component(Bucket { name: "assets".into() })]
    assets: Bucket,
}

fn main() {}
