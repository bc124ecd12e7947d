use actuator::prelude::*;

namespace! {
    struct Site {
        defaults { remote_user = "deploy" }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

fn main() {}
