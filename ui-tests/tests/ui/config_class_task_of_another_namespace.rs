use actuator::prelude::*;

namespace! {
    struct Site {
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

namespace! {
    struct Lab {
        bench: Role = Role::new("bench").host_ref("127.0.0.1"),
    }
}

config! {
    struct Calibrate for Lab {
        ping: Task = PingTask::new("ping").role(ns.bench),
    }
}

config! {
    struct Deploy for Site {
        // `Calibrate` takes its roles from `Lab`; this system's namespace is `Site`.
        calibrate: ConfigClassTask<Calibrate> = ConfigClassTask::new("calibrate").role(ns.web),
    }
}

fn main() {}
