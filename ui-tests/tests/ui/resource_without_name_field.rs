use actuator::prelude::*;

#[derive(Resource, Clone, Debug)]
#[resource(kind = "cloud.Bucket")]
struct Bucket {
    title: String,
}

fn main() {}
