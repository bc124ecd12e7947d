use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct Setup for Site {
        vars { PORT = "8080" }
        a: Task = NullTask::new("a").role(ns.web),
    }
}

fn main() {}
