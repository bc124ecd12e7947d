use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct Setup for Site {
        a: Task = NullTask::new("a").role(ns.web),
        deps { a | }
    }
}

fn main() {}
