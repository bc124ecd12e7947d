use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref("10.0.0.1"),
        web: Role = Role::new("web2").host_ref("10.0.0.2"),
    }
}

fn main() {}
