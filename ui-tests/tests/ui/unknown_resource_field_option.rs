// A misspelt field option (`skp` for `skip`) is an error at the word, not silently ignored (which
// would walk the field for references after all).
use actuator::prelude::*;

#[derive(Resource, Clone, Debug)]
#[resource(kind = "cloud.Bucket")]
struct Bucket {
    name: String,
    #[resource(skp)]
    cache: Vec<String>,
}

fn main() {}
