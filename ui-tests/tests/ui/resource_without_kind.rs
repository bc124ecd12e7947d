use actuator::prelude::*;

#[derive(Resource, Clone, Debug)]
#[resource(outputs(id: String))]
struct Bucket {
    name: String,
}

fn main() {}
