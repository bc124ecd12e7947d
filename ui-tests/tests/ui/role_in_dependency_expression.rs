use actuator::config::{Dep, TaskPath};
use actuator::namespace::RolePath;

fn order(setup: TaskPath, web: RolePath) -> Dep {
    setup | web
}

fn main() {}
