use actuator::prelude::*;

#[derive(Resource, Clone, Debug)]
#[resource(kind = "cloud.Bucket", adressable)]
struct Bucket {
    name: String,
}

fn main() {}
