//! Issue 15: a model of 2,000 infra components (1,000 servers with a floating IP each, a role per
//! server, a task per role: 4,001 declared components) builds its instances in a debug binary on
//! the main thread and on a 2 MiB thread (tokio's worker stack size). The generated code used to
//! overflow the 8 MiB main thread at 250 components.
//!
//! A plain binary (`harness = false`), so the first build really runs on the main thread.

use actuator_ui_tests::scale::Counts;

mod model {
    include!(concat!(env!("OUT_DIR"), "/large_model.rs"));
}

fn main() {
    let c = Counts::of(2000);
    let expected = [c.infra, c.roles, c.tasks];
    assert_eq!(model::build(), expected, "built on the main thread");
    let on_small_stack = std::thread::Builder::new()
        .name("2 MiB stack".into())
        .stack_size(2 << 20)
        .spawn(model::build)
        .expect("spawn a thread")
        .join()
        .expect("the build on a 2 MiB stack did not panic");
    assert_eq!(on_small_stack, expected, "built on a 2 MiB thread");
    println!(
        "large_model: {} components built on the main thread and on a 2 MiB thread",
        c.total()
    );
}
