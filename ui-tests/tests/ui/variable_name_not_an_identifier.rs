use actuator::prelude::*;

namespace! {
    struct Site {
        vars { 1X = "a" }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

fn main() {}
