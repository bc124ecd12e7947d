use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct Setup for Site {
        defaults { rolee = ns.web }
        ping: Task = PingTask::new("ping"),
    }
}

fn main() {}
