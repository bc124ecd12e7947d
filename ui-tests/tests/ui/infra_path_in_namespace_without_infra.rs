use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref(infra.server),
    }
}

fn main() {}
