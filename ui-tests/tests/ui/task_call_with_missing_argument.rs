use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct Deploy for Site {
        // `CommandTask::new` takes a name and a command line.
        hello: Task = CommandTask::new("hello").role(ns.web),
        ping: Task = PingTask::new("ping").role(ns.web),
        deps { hello | ping }
    }
}

fn main() {}
