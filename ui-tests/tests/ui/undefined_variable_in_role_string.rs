use actuator::prelude::*;

namespace! {
    struct Site {
        vars { PORT = "8080" }
        web: Role = Role::new("web").host_ref("!{WEB_HOST}"),
    }
}

fn main() {}
