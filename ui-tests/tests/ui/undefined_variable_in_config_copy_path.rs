use actuator::prelude::*;

namespace! {
    struct Site {
        extern { APP_DIR }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct Setup for Site {
        conf: Task = ProcessCopyFileTask::new("conf", "!{APP_DIRECTORY}/app.conf")
            .content("dir = !{APP_DIR}\n")
            .role(ns.web),
    }
}

fn main() {}
