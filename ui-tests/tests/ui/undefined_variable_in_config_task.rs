use actuator::prelude::*;

namespace! {
    struct Site {
        vars { PORT = "8080" }
        web: Role = Role::new("web").host_ref("127.0.0.1").var("WEB_ROOT", "/srv/www"),
    }
}

config! {
    struct Setup for Site {
        serve: Task = CommandTask::new("serve", "serve --root !{WEB_ROOT} --port !{PROT}").role(ns.web),
    }
}

fn main() {}
