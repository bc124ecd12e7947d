// Every `!{NAME}` a config task expands names something its namespace declares — in `vars { }`,
// `extern { }`, on a role, a keyed container or a group, including the groups of groups — and the
// strings that are never expanded (a task's name, a local source path, content that is not
// templated) are not checked.
use actuator::prelude::*;

namespace! {
    group Inner {
        vars { INNER = "i" }
        leaf: Role = Role::new("leaf").host_ref("127.0.0.1"),
    }
}

namespace! {
    group Pod {
        vars { POD_VAR = "pod" }
        a: Role = Role::new("a").host_ref("127.0.0.1").hidden_var("A_ONLY", "a"),
        inner: RoleGroup<Inner> = RoleGroup::new("inner"),
    }
}

namespace! {
    struct Site {
        vars { PORT = "8080", hidden SALT = "s" }
        extern { GREETING }
        web: Role = Role::new("web").host_ref("127.0.0.1").var("type", "keyword-named"),
        grid: MultiRole = MultiRole::new(Role::new("node").host_ref("127.0.0.1").var("NODE_ID", ctx.name)),
        pod: RoleGroup<Pod> = RoleGroup::new("pod").var("GROUP_ONLY", "g"),
        pods: MultiRoleGroup<Pod> = MultiRoleGroup::named("pods"),
    }
}

config! {
    struct Setup for Site {
        hello: Task = CommandTask::new("hello-!{NOT_EXPANDED}", "echo !{GREETING} !{PORT} !{SALT} !{type}").role(ns.web),
        nodes: MultiTask = MultiTask::new("nodes", ShellTask::new("n", "echo !{NODE_ID}"), q.grid.all()),
        pod: Task = CommandTask::argv("pod", ["echo", "!{POD_VAR}", "!{A_ONLY}", "!{INNER}", "!{GROUP_ONLY}"])
            .role(ns.pod.a),
        raw: Task = CopyFileTask::new("raw", "/tmp/!{PORT}").content("kept as is: !{ANYTHING}").role(ns.web),
        copied: Task = CopyFileTask::new("copied", "/tmp/x").src("local/!{NOT_EXPANDED}").role(ns.web),
        literal: Task = ShellTask::new("literal", "echo '!!{NOT_A_VAR}'").role(ns.web),
        defaults { remote_user = "!{GREETING}" }
    }
}

fn main() {
    let ns = Site::instance("site");
    let cfg = Setup::instance("setup", &ns);
    // hello, pod, raw, copied, literal (the grid has no roles yet: `nodes` has no copies).
    assert_eq!(cfg.graph().task_names().len(), 5);
}
