use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref("127.0.0.1"),
        db: Role = Role::new("db").host_ref("127.0.0.2"),
        deps { db | web }
    }
}

fn main() {}
