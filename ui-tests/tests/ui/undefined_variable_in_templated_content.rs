use actuator::prelude::*;

namespace! {
    group Pod {
        vars { POD_PORT = "9000" }
        app: Role = Role::new("app").host_ref("127.0.0.1"),
    }
}

namespace! {
    struct Site {
        pod: RoleGroup<Pod> = RoleGroup::new("pod"),
    }
}

config! {
    struct Setup for Site {
        // Names a group declares count; this one is misspelt.
        conf: Task = CopyFileTask::new("conf", "/etc/app.conf")
            .content("port = !{POD_PROT}\n")
            .templated()
            .role(ns.pod.app),
    }
}

fn main() {}
