use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct Deploy for Site {
        // `Site::class()` leads into the model type, not into the namespace this config runs
        // against: a task's role must be a path of the instance (`ns.web`).
        ping: Task = PingTask::new("ping").role(Site::class().map(|s| s.web)),
    }
}

fn main() {}
