use actuator::prelude::*;

namespace! {
    struct Site {
        vars { PORT = "8080", PORT = "9090" }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

fn main() {}
