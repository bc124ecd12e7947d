use actuator::prelude::*;

namespace! {
    struct Site {
        vars { PORT = , URL = "http://web:!{PORT}/" }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

fn main() {}
