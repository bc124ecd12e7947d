use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct Setup for Site {
        a: Task = NullTask::new("a").role(ns.web),
        b: Task = NullTask::new("b").role(ns.web),
        c: Task = NullTask::new("c").role(ns.web),
        deps { a | b, b | c, c | a }
    }
}

fn main() {}
