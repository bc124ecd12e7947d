use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref(,),
        db: Role = Role::new("db").host_ref("10.0.0.2"),
    }
}

config! {
    struct Setup for Site {
        ping: Task = PingTask::new("ping").role(ns.web),
        dump: Task = ShellTask::new("dump", "pg_dumpall").role(ns.db),
        deps { ping | dump }
    }
}

fn main() {}
