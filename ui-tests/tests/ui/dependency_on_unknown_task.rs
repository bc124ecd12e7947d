use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct Setup for Site {
        install: Task = ShellTask::new("install", "true").role(ns.web),
        start: Task = ShellTask::new("start", "true").role(ns.web),
        deps { install | strat }
    }
}

fn main() {}
