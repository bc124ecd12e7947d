//! The SSH agent against a real sshd on loopback (`scripts/sshd.sh`, started here if it is not
//! running): what only SSH has — credentials, host key policies, connection reuse, the handshake
//! cap, environment values kept out of the host's process list, the agent's own command timeout,
//! copies as another user — and a multi-role namespace run end to end through
//! `ActuatorOrchestration`. Every check looks at the real effects on disk. What the SSH agent
//! shares with the local agent (every action, hostile values, creates/removes/chdir, scripts,
//! errors) is held to the local agent's meaning by `exec_conformance.rs`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actuator::exec::{Action, CopySpec, ExecAgent, ExecError, ExecTask, Template};
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator_ssh::{HostKeyPolicy, SshAgent, SshOptions};
use actuator_tests::sshd::{agent, options, remote_dir, sshd};
use actuator_tests::{processes_running, walk};

fn task(name: &str, host: &str, action: Action) -> ExecTask {
    ExecTask::new(name, action).host(host)
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_command_shell_and_failures() {
    let (agent, _kh) = agent();
    let host = "127.0.0.2";
    let out = agent.run(task("ping", host, Action::Ping)).await.unwrap();
    assert_eq!((out.status, out.stdout.as_str()), (0, "pong"));

    let out = agent
        .run(task("whoami", host, Action::command(["id", "-un"])))
        .await
        .unwrap();
    assert_eq!(out.stdout.trim(), sshd().user);

    let out = agent
        .run(
            task(
                "pipe",
                host,
                Action::Shell("printf '%s\\n' b a \"$X\" | sort | tr '\\n' ,".into()),
            )
            .env("X", "c"),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, "a,b,c,");

    // CommandTask: no shell, so `$HOME;` and `|` are plain arguments.
    let out = agent
        .run(task(
            "argv",
            host,
            Action::command(["printf", "%s|", "$HOME;", "a b"]),
        ))
        .await
        .unwrap();
    assert_eq!(out.stdout, "$HOME;|a b|");

    let err = agent
        .run(task(
            "fails",
            host,
            Action::Shell("echo one >&2; echo boom >&2; exit 4".into()),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::Failed { status: 4, stderr_tail, .. } if stderr_tail == "one\nboom"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "task `fails` failed with exit status 4: one\nboom"
    );

    let err = agent
        .run(task(
            "missing",
            host,
            Action::command(["no-such-program-actuator"]),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::Spawn { program, source, .. } if program == "no-such-program-actuator" && source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );

    // Refused before connecting: a bad variable name, an empty command.
    let err = agent
        .run(task("badenv", host, Action::Shell("true".into())).env("A;B", "1"))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::Invalid { .. }), "{err:?}");
    let err = agent
        .run(task("badcmd", host, Action::command(Vec::<String>::new())))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::BadCommand { .. }), "{err:?}");
    assert_eq!(agent.stats().handshakes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_values_stay_out_of_the_hosts_process_list() {
    let (agent, _kh) = agent();
    let secret = "s3cret-7f1e2d-value";
    let running = agent.run(
        task(
            "env",
            "127.0.0.3",
            Action::Shell("sleep 1; printf %s \"$TOKEN\"".into()),
        )
        .env("TOKEN", secret),
    );
    let watch = async {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(900);
        while Instant::now() < deadline {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
                    && String::from_utf8_lossy(&cmdline).contains(secret)
                {
                    seen.push(String::from_utf8_lossy(&cmdline).into_owned());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        seen
    };
    let (out, seen) = tokio::join!(running, watch);
    assert_eq!(out.unwrap().stdout, secret);
    assert!(seen.is_empty(), "visible in the process list: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_kills_the_whole_remote_process_group() {
    let (agent, _kh) = agent();
    let started = Instant::now();
    let err = agent
        .run(
            task(
                "slow",
                "127.0.0.6",
                Action::Shell("sleep 3021 & sleep 3022; echo never".into()),
            )
            .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::Timeout { after, .. } if *after == Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(err.retryable());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // Both the foreground and the background sleep are gone.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !(processes_running("3021").is_empty() && processes_running("3022").is_empty()) {
        assert!(
            Instant::now() < deadline,
            "remote processes survived the timeout"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A task whose future is dropped (a cancelled run) is killed as well.
    let dropped = tokio::time::timeout(
        Duration::from_millis(800),
        agent.run(task(
            "dropped",
            "127.0.0.6",
            Action::Shell("sleep 3024 & sleep 3025".into()),
        )),
    )
    .await;
    assert!(dropped.is_err());
    let deadline = Instant::now() + Duration::from_secs(3);
    while !(processes_running("3024").is_empty() && processes_running("3025").is_empty()) {
        assert!(
            Instant::now() < deadline,
            "a dropped task's processes survived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The agent's command_timeout applies to tasks without their own.
    let dir = tempfile::tempdir().unwrap();
    let agent = SshAgent::new(SshOptions {
        command_timeout: Some(Duration::from_millis(800)),
        ..options(&dir.path().join("known_hosts"))
    });
    let err = agent
        .run(task(
            "slow2",
            "127.0.0.6",
            Action::command(["sleep", "3023"]),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::Timeout { .. }), "{err:?}");
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_of_content_files_and_directories() {
    let (agent, _kh) = agent();
    let dir = remote_dir();
    let d = path_str(dir.path());
    let host = "127.0.0.7";
    let copy = |spec: CopySpec| task("copy", host, Action::Copy(spec));

    // A local tree: conf/{a.txt 0640, sub/ 0750 {b.txt 0600}, link -> a.txt}.
    let local = tempfile::tempdir().unwrap();
    let conf = local.path().join("conf");
    std::fs::create_dir_all(conf.join("sub")).unwrap();
    std::fs::write(conf.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(conf.join("sub/b.txt"), "beta\n").unwrap();
    std::fs::set_permissions(conf.join("a.txt"), PermissionsExt::from_mode(0o640)).unwrap();
    std::fs::set_permissions(conf.join("sub/b.txt"), PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::set_permissions(conf.join("sub"), PermissionsExt::from_mode(0o750)).unwrap();
    std::fs::set_permissions(&conf, PermissionsExt::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("a.txt", conf.join("link")).unwrap();

    // Without a trailing `/`: the directory itself goes into dest.
    agent
        .run(copy(CopySpec {
            dest: format!("{d}/nodir"),
            src: Some(conf.clone()),
            ..CopySpec::default()
        }))
        .await
        .unwrap();
    let got = dir.path().join("nodir/conf");
    assert_eq!(
        std::fs::read_to_string(got.join("a.txt")).unwrap(),
        "alpha\n"
    );
    assert_eq!(
        std::fs::read_to_string(got.join("sub/b.txt")).unwrap(),
        "beta\n"
    );
    assert_eq!(mode(&got.join("a.txt")), 0o640);
    assert_eq!(mode(&got.join("sub/b.txt")), 0o600);
    assert_eq!(mode(&got.join("sub")), 0o750);
    assert_eq!(
        std::fs::read_link(got.join("link")).unwrap(),
        Path::new("a.txt")
    );
    assert_eq!(
        std::fs::metadata(got.join("a.txt")).unwrap().uid(),
        sshd().uid
    );

    // With a trailing `/`: its contents; `mode` applies to every file.
    let mut with_slash = conf.clone().into_os_string();
    with_slash.push("/");
    agent
        .run(copy(CopySpec {
            dest: format!("{d}/contents"),
            src: Some(with_slash.into()),
            mode: Some(0o604),
            ..CopySpec::default()
        }))
        .await
        .unwrap();
    let got = dir.path().join("contents");
    assert!(got.join("a.txt").is_file() && got.join("sub/b.txt").is_file());
    assert!(!got.join("conf").exists());
    assert_eq!(mode(&got.join("a.txt")), 0o604);
    assert_eq!(mode(&got.join("sub/b.txt")), 0o604);

    // A file into a directory (dest ends with `/`, or is one), keeping its mode.
    agent
        .run(copy(CopySpec {
            dest: format!("{d}/files/"),
            src: Some(conf.join("a.txt")),
            ..CopySpec::default()
        }))
        .await
        .unwrap();
    assert_eq!(mode(&dir.path().join("files/a.txt")), 0o640);
    agent
        .run(
            copy(CopySpec {
                dest: "files".into(),
                src: Some(conf.join("sub/b.txt")),
                ..CopySpec::default()
            })
            .chdir(&d),
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("files/b.txt")).unwrap(),
        "beta\n"
    );

    // Content: 0644 by default, an existing file's mode kept, an explicit mode applied.
    let c = dir.path().join("c.conf");
    let content = |text: &str, mode: Option<u32>| {
        copy(CopySpec {
            dest: path_str(&c),
            content: Some(text.into()),
            mode,
            ..CopySpec::default()
        })
    };
    agent.run(content("one", None)).await.unwrap();
    assert_eq!(
        (std::fs::read_to_string(&c).unwrap().as_str(), mode(&c)),
        ("one", 0o644)
    );
    std::fs::set_permissions(&c, PermissionsExt::from_mode(0o600)).unwrap();
    agent.run(content("two", None)).await.unwrap();
    assert_eq!(
        (std::fs::read_to_string(&c).unwrap().as_str(), mode(&c)),
        ("two", 0o600)
    );
    agent.run(content("three", Some(0o640))).await.unwrap();
    assert_eq!(mode(&c), 0o640);
    // No temporary files are left beside the targets.
    assert!(
        walk(dir.path())
            .iter()
            .all(|p| !p.to_string_lossy().contains(".actuator-")),
        "temporary files left"
    );

    // Content onto a directory is refused; so is a copy with neither src nor content.
    let err = agent
        .run(copy(CopySpec {
            dest: format!("{d}/files"),
            content: Some("x".into()),
            ..CopySpec::default()
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::Invalid { .. }), "{err:?}");
    let err = agent
        .run(copy(CopySpec {
            dest: format!("{d}/x"),
            ..CopySpec::default()
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::Invalid { .. }), "{err:?}");

    // A binary file of 1.5 MB arrives intact (pipelined SFTP writes).
    let big: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(local.path().join("big.bin"), &big).unwrap();
    agent
        .run(copy(CopySpec {
            dest: format!("{d}/big.bin"),
            src: Some(local.path().join("big.bin")),
            ..CopySpec::default()
        }))
        .await
        .unwrap();
    assert!(std::fs::read(dir.path().join("big.bin")).unwrap() == big);

    // Templates apply to content and to every file; a binary file cannot be templated.
    let upper: Template = Arc::new(|t: &str| Ok(t.to_uppercase()));
    agent
        .run(copy(CopySpec {
            dest: format!("{d}/templated/"),
            src: Some(conf.join("a.txt")),
            template: Some(upper.clone()),
            ..CopySpec::default()
        }))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("templated/a.txt")).unwrap(),
        "ALPHA\n"
    );
    let err = agent
        .run(copy(CopySpec {
            dest: format!("{d}/templated/big.bin"),
            src: Some(local.path().join("big.bin")),
            template: Some(upper),
            ..CopySpec::default()
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::Template { file: Some(f), .. } if f.ends_with("big.bin")),
        "{err:?}"
    );
    let failing: Template = Arc::new(|_: &str| Err("unresolved variable `DB_HOST`".into()));
    let err = agent
        .run(copy(CopySpec {
            dest: format!("{d}/t.conf"),
            content: Some("host=!{DB_HOST}".into()),
            template: Some(failing),
            ..CopySpec::default()
        }))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unresolved variable `DB_HOST`"),
        "{err}"
    );
    assert!(!dir.path().join("t.conf").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_set_owner_and_group_resolved_on_the_host() {
    let s = sshd();
    let kh = tempfile::tempdir().unwrap();
    // Connect as the current user (root in CI, who may give files away).
    let agent = SshAgent::new(SshOptions {
        default_user: None,
        ..options(&kh.path().join("known_hosts"))
    });
    let dir = remote_dir();
    let d = path_str(dir.path());
    let host = "127.0.0.8";
    let copy = |spec: CopySpec| task("owned", host, Action::Copy(spec));
    agent
        .run(copy(CopySpec {
            dest: format!("{d}/by-name/owned.conf"),
            content: Some("x".into()),
            owner: Some(s.user.clone()),
            group: Some(s.user.clone()),
            mode: Some(0o600),
            ..CopySpec::default()
        }))
        .await
        .unwrap();
    let meta = std::fs::metadata(dir.path().join("by-name/owned.conf")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (s.uid, s.gid, 0o600)
    );

    let local = tempfile::tempdir().unwrap();
    std::fs::create_dir(local.path().join("tree")).unwrap();
    std::fs::write(local.path().join("tree/f"), "f").unwrap();
    agent
        .run(copy(CopySpec {
            dest: d.clone(),
            src: Some(local.path().join("tree")),
            owner: Some(s.uid.to_string()),
            group: Some(s.gid.to_string()),
            ..CopySpec::default()
        }))
        .await
        .unwrap();
    for p in ["tree", "tree/f"] {
        let meta = std::fs::metadata(dir.path().join(p)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (s.uid, s.gid), "{p}");
    }

    let err = agent
        .run(copy(CopySpec {
            dest: format!("{d}/nobody.conf"),
            content: Some("x".into()),
            owner: Some("no-such-user-actuator".into()),
            ..CopySpec::default()
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::UnknownOwner { kind: "user", name, .. } if name == "no-such-user-actuator"),
        "{err:?}"
    );
    let err = agent
        .run(copy(CopySpec {
            dest: format!("{d}/nogroup.conf"),
            content: Some("x".into()),
            group: Some("no-such-group-actuator".into()),
            ..CopySpec::default()
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::UnknownOwner { kind: "group", .. }),
        "{err:?}"
    );
    assert!(!dir.path().join("nobody.conf").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_and_key_authentication() {
    let s = sshd();
    let kh = tempfile::tempdir().unwrap();
    // A fresh agent per login attempt: a pooled connection is reused whatever the credentials.
    let no_key = || {
        SshAgent::new(SshOptions {
            default_key: None,
            ..options(&kh.path().join("known_hosts"))
        })
    };
    let whoami = || task("whoami", "127.0.0.9", Action::command(["id", "-un"]));
    if let Some(password) = &s.password {
        let mut t = whoami();
        t.password = Some(Secret::new(password.clone()));
        let out = no_key().run(t).await.unwrap();
        assert_eq!(out.stdout.trim(), s.user);

        let mut t = whoami();
        t.password = Some(Secret::new("wrong password"));
        let err = no_key().run(t).await.unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ExecError::Connection { .. }), "{err:?}");
        assert!(
            message.contains(&format!(
                "authentication as `{}` was refused (tried password)",
                s.user
            )),
            "{message}"
        );
        assert!(!message.contains("wrong password"));
    }

    // The task's key file wins over the agent's default key.
    let mut t = whoami();
    t.key_file = Some(s.key.clone());
    assert_eq!(no_key().run(t).await.unwrap().stdout.trim(), s.user);

    let (agent, _kh) = agent();
    let mut t = whoami();
    t.key_file = Some(s.wrong_key.clone());
    let err = agent.run(t).await.unwrap_err();
    assert!(err.retryable());
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "authentication as `{}` was refused (tried public key `{}`)",
            s.user,
            s.wrong_key.display()
        )),
        "{message}"
    );

    let mut t = whoami();
    t.key_file = Some("/nonexistent/id_ed25519".into());
    let err = agent.run(t).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot read private key `/nonexistent/id_ed25519`"),
        "{err}"
    );

    // The task's user wins over the agent's default; no user at all is the current user.
    let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let mut t = whoami();
    t.user = Some(me.trim().to_owned());
    assert_eq!(agent.run(t).await.unwrap().stdout, me);
    let anonymous = SshAgent::new(SshOptions {
        default_user: None,
        ..options(&kh.path().join("known_hosts"))
    });
    assert_eq!(anonymous.run(whoami()).await.unwrap().stdout, me);

    // Nothing listens there: a retryable connection error.
    let err = agent
        .run(task("nowhere", "127.0.0.1:1", Action::Ping))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::Connection { host, .. } if host.ends_with("@127.0.0.1:1")),
        "{err:?}"
    );
    assert!(err.retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_output_and_background_processes() {
    let (agent, _kh) = agent();
    let host = "127.0.0.4";
    // 5 MB on stdout and some stderr, through the channel's flow control.
    let out = agent
        .run(task(
            "big",
            host,
            Action::Shell("head -c 5000000 /dev/zero | tr '\\0' a; echo done >&2".into()),
        ))
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 5_000_000);
    assert!(out.stdout.bytes().all(|b| b == b'a'));
    assert_eq!(out.stderr, "done\n");

    // A daemon left behind holds the channel's output open: the task still ends at once, and
    // the daemon is left alone (as locally).
    let started = Instant::now();
    let out = agent
        .run(task(
            "daemon",
            host,
            Action::Shell("sleep 3031 & echo started".into()),
        ))
        .await
        .unwrap();
    assert_eq!(out.stdout, "started\n");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let left = processes_running("3031");
    assert_eq!(
        left.len(),
        1,
        "the background process should be left running"
    );
    for pid in left {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeouts_and_the_handshake_cap() {
    // A server that accepts connections, notes when, and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(parking_lot::Mutex::new(Vec::<Instant>::new()));
    let seen = accepted.clone();
    let server = tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            seen.lock().push(Instant::now());
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    let kh = tempfile::tempdir().unwrap();
    let agent = SshAgent::new(SshOptions {
        port,
        connect_timeout: Duration::from_millis(300),
        max_handshakes: 2,
        ..options(&kh.path().join("known_hosts"))
    });
    let started = Instant::now();
    // Six logins (one user each): six handshakes, at most two at a time.
    let runs = (0..6).map(|i| {
        let mut t = task(&format!("t{i}"), "127.0.0.1", Action::Ping);
        t.user = Some(format!("user{i}"));
        agent.run(t)
    });
    for result in futures::future::join_all(runs).await {
        let err = result.unwrap_err();
        assert!(
            matches!(&err, ExecError::Connection { message, .. } if message.contains("no SSH session within 300ms")),
            "{err:?}"
        );
        assert!(err.retryable());
    }
    assert_eq!(agent.stats().handshakes, 6);
    // Connections arrive two by two, a timeout apart: never three within 250 ms…
    let times = accepted.lock().clone();
    assert_eq!(times.len(), 6);
    for w in times.windows(3) {
        assert!(
            w[2] - w[0] >= Duration::from_millis(250),
            "three handshakes at once: {times:?}"
        );
    }
    // …so three rounds of 300 ms, where six at once would take one.
    assert!(
        started.elapsed() >= Duration::from_millis(850),
        "{:?}",
        started.elapsed()
    );
    server.abort();
}

/// `SHA256:…` of the test sshd's host key, as ssh-keygen prints it.
fn host_fingerprint() -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&sshd().host_key_pub)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_key_policies() {
    let s = sshd();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new/known_hosts");
    let host = "127.0.0.10";
    let ping = || task("ping", host, Action::Ping);
    let host_key = std::fs::read_to_string(&s.host_key_pub).unwrap();
    let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();

    // Strict refuses an unknown host and writes nothing.
    let strict = SshAgent::new(SshOptions {
        host_keys: HostKeyPolicy::Strict(file.clone()),
        ..options(&file)
    });
    let err = strict.run(ping()).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "host `[{host}]:{}` is not in known hosts file",
            s.port
        )),
        "{message}"
    );
    assert!(message.contains(&host_fingerprint()), "{message}");
    assert!(!file.exists());

    // Accept-new records the key (in a directory it creates)…
    let accept = SshAgent::new(options(&file));
    accept.run(ping()).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("[{host}]:{} {} {}\n", s.port, host_key[0], host_key[1])
    );
    // …which strict then accepts.
    strict.run(ping()).await.unwrap();

    // A changed key is refused even by accept-new, naming host and fingerprint.
    let forged = format!(
        "[{host}]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILOrtLCgQ8flvdBhT80Z5wUZn8dLbVtlWt2LpGASsMfS\n",
        s.port
    );
    let changed = dir.path().join("changed");
    std::fs::write(&changed, &forged).unwrap();
    let err = SshAgent::new(options(&changed))
        .run(ping())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!("HOST KEY CHANGED for `[{host}]:{}`", s.port)),
        "{message}"
    );
    assert!(message.contains(&host_fingerprint()), "{message}");
    assert_eq!(std::fs::read_to_string(&changed).unwrap(), forged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_per_host_is_reused_by_all_its_tasks() {
    let (agent, _kh) = agent();
    // $SSH_CONNECTION names the client's port: one value means one TCP connection.
    let runs = (0..10).map(|i| {
        agent.run(task(
            &format!("conn{i}"),
            "127.0.0.11",
            Action::Shell("echo \"$SSH_CONNECTION\"".into()),
        ))
    });
    let outs = futures::future::join_all(runs).await;
    let seen: std::collections::HashSet<String> =
        outs.into_iter().map(|o| o.unwrap().stdout).collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let stats = agent.stats();
    assert_eq!((stats.handshakes, stats.channels), (1, 10));
    assert_eq!(stats.open_connections, 1);

    // Many more tasks than sshd allows sessions per connection: queued on the one connection.
    let runs = (0..40).map(|i| {
        agent.run(task(
            &format!("many{i}"),
            "127.0.0.11",
            Action::command(["echo".to_string(), i.to_string()]),
        ))
    });
    for (i, out) in futures::future::join_all(runs)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(out.unwrap().stdout, format!("{i}\n"));
    }
    assert_eq!(agent.stats().handshakes, 1);

    // After a disconnect, the next task connects again.
    agent.disconnect_all().await;
    assert_eq!(agent.stats().open_connections, 0);
    agent
        .run(task("again", "127.0.0.11", Action::Ping))
        .await
        .unwrap();
    assert_eq!(agent.stats().handshakes, 2);
}

// ---- A multi-role namespace end to end through ActuatorOrchestration ----

#[derive(InfraModel)]
struct Lab {
    #[component(StaticServer::new("db", "127.0.0.12"))]
    db: StaticServer,
    #[component(StaticServer::new("web", "127.0.0.13"))]
    web: StaticServer,
    #[component(MultiResource::new(StaticServer::new("app", format!("127.0.0.{}", ctx.name))))]
    apps: MultiResource<StaticServer>,
}

namespace! {
    struct LabNs for Lab {
        extern { DIR, LOCAL_DIR, ME }
        vars {
            GREETING = "hello from !{NAME}",
            HOSTILE = "$(touch pwned); `touch pwned` ' \" \n; rm -rf !{DIR}",
            hidden NOT_EXPORTED = "secret",
        }
        db: Role = Role::new("db").host_ref(infra.db).var("NAME", "db"),
        web: Role = Role::new("web").host_ref(infra.web).var("NAME", "web"),
        apps: MultiRole = MultiRole::new(
            Role::new("app").host_ref(infra.apps[ctx.name]).var("NAME", format!("app{}", ctx.name))),
    }
}

/// The local files the model copies and runs, written next to the test binary's temp dir.
fn lab_files() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("actuator-ssh-lab-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("site/static")).unwrap();
        std::fs::write(dir.join("site/index.html"), "<h1>!{GREETING}</h1>\n").unwrap();
        std::fs::write(dir.join("site/static/app.js"), "// plain\n").unwrap();
        std::fs::write(
            dir.join("setup.sh"),
            "#!/bin/sh\nprintf '%s|%s|%s' \"$1\" \"$2\" '!{NAME}' > \"$3/setup.out\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("bad.conf"), "x=!{NOT_DEFINED_ANYWHERE}\n").unwrap();
        dir
    })
}

fn lab_path(name: &str) -> PathBuf {
    lab_files().join(name)
}

config! {
    struct LabConfig for LabNs {
        defaults { role = ns.web }
        ping: MultiTask = MultiTask::new("ping", PingTask::new("ping"), [ns.db, ns.web]),
        who: MultiTask = MultiTask::new(
            "who",
            ShellTask::new("who", "{ id -un; echo \"$SSH_CONNECTION\"; printf '%s|%s' \"$HOSTILE\" \"${NOT_EXPORTED:-unset}\"; } > !{DIR}/!{NAME}.who"),
            q.apps.all()),
        argv: Task = CommandTask::new("argv", "touch '!{DIR}/argv; $(touch pwned)'").role(ns.db),
        setup: Task = ScriptTask::new("setup", lab_path("setup.sh")).args(["one", "two words", "!{DIR}"]).templated().role(ns.db),
        conf: MultiTask = MultiTask::new(
            "conf",
            ProcessCopyFileTask::new("conf", "!{DIR}/!{NAME}.conf").content("name=!{NAME}\ngreeting=!{GREETING}\n").mode(0o640),
            q.apps.all()),
        site: Task = ProcessCopyFileTask::new("site", "!{DIR}/www").src(lab_path("site")),
        raw: Task = CopyFileTask::new("raw", "!{DIR}/raw/").src(lab_path("setup.sh")),
        local: Task = LocalShellCommandTask::new("local", "echo $PPID > !{LOCAL_DIR}/local.pid"),
        from: Task = ShellTask::new("from", "echo \"!{NAME} $SSH_CONNECTION\" > !{DIR}/from.txt").role(ns.db).run_from(ns.web),
        flaky: Task = ShellTask::new("flaky", "test -e !{DIR}/flaky || { touch !{DIR}/flaky; exit 1; }").repeat(3, Duration::from_millis(20)),
        mine: Task = CommandTask::new("mine", "touch !{DIR}/mine").remote_user("!{ME}").role(ns.db),
        deps { ping | who & argv & setup & conf & site & raw & local & from & flaky & mine }
    }
}

config! {
    struct BadTemplate for LabNs {
        defaults { role = ns.web }
        bad: Task = ProcessCopyFileTask::new("bad", "!{DIR}/bad.conf").src(lab_path("bad.conf")),
    }
}

fn lab(dir: &Path, local: &Path) -> (Instance<Lab>, Instance<LabNs>) {
    let infra = Lab::instance("lab");
    let ns = LabNs::instance("labns", &infra);
    ns.add_var(&ns.root(), Var::new("DIR", path_str(dir)));
    ns.add_var(&ns.root(), Var::new("LOCAL_DIR", path_str(local)));
    let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    ns.add_var(&ns.root(), Var::new("ME", me.trim()));
    for k in [14, 15] {
        ns.index(ns.root().apps, k);
    }
    (infra, ns)
}

#[test]
fn a_multi_role_namespace_runs_end_to_end_over_ssh() {
    let s = sshd();
    let dir = remote_dir();
    let local = tempfile::tempdir().unwrap();
    let (infra, ns) = lab(dir.path(), local.path());
    let cfg = LabConfig::instance("labcfg", &ns);
    let (agent, _kh) = agent();
    let agent = Arc::new(agent);
    let mut o = ActuatorOrchestration::new("ssh-lab")
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg)
        .agent(agent.clone())
        .memory_state();
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(rt.block_on(o.initiate_system()), "{:#?}", o.failures());

    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    for (name, ip) in [("app14", "127.0.0.14"), ("app15", "127.0.0.15")] {
        let who = read(&format!("{name}.who"));
        let mut lines = who.splitn(3, '\n');
        assert_eq!(lines.next(), Some(s.user.as_str()));
        // Run on the role's own host…
        let conn = lines.next().unwrap();
        assert!(conn.ends_with(&format!(" {ip} {}", s.port)), "{conn}");
        // …with in-env variables exported verbatim and hidden ones not exported.
        assert_eq!(
            lines.next().unwrap(),
            format!(
                "$(touch pwned); `touch pwned` ' \" \n; rm -rf {}|unset",
                path_str(dir.path())
            )
        );
        assert_eq!(
            read(&format!("{name}.conf")),
            format!("name={name}\ngreeting=hello from {name}\n")
        );
        let meta = std::fs::metadata(dir.path().join(format!("{name}.conf"))).unwrap();
        assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o640, s.uid));
    }
    assert!(dir.path().join("argv; $(touch pwned)").exists());
    assert_eq!(read("setup.out"), format!("one|two words|db"));
    // ProcessCopyFileTask of a directory: every file templated through the role's variables.
    assert_eq!(read("www/site/index.html"), "<h1>hello from web</h1>\n");
    assert_eq!(read("www/site/static/app.js"), "// plain\n");
    // CopyFileTask into a directory: verbatim.
    assert!(read("raw/setup.sh").contains("'!{NAME}'"));
    // run_from: the db role's variables on the web host.
    let from = read("from.txt");
    assert!(
        from.starts_with("db ") && from.contains(" 127.0.0.13 "),
        "{from}"
    );
    // repeat_count: failed once, then succeeded.
    assert!(dir.path().join("flaky").exists());
    // The task's remote user wins over the agent's default.
    let mine = std::fs::metadata(dir.path().join("mine")).unwrap();
    assert_eq!(mine.uid(), my_uid());
    // Local tasks run here, as children of this process, never over SSH.
    assert_eq!(
        std::fs::read_to_string(local.path().join("local.pid"))
            .unwrap()
            .trim(),
        std::process::id().to_string()
    );
    assert!(walk(dir.path()).iter().all(|p| !p.ends_with("pwned")));
    // One connection per (host, user): db, web, app14 and app15 as the test user, plus db as
    // `ME` when that is another user (root in CI).
    let expected = if me() == s.user { 4 } else { 5 };
    assert_eq!(agent.stats().handshakes, expected);
}

fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap().stdout;
    String::from_utf8(out).unwrap().trim().to_owned()
}

fn my_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap().stdout;
    String::from_utf8(out).unwrap().trim().parse().unwrap()
}

#[test]
fn an_unresolved_variable_in_a_copied_template_names_the_variable() {
    let dir = remote_dir();
    let local = tempfile::tempdir().unwrap();
    let (infra, ns) = lab(dir.path(), local.path());
    let cfg = BadTemplate::instance("bad", &ns);
    let (agent, _kh) = agent();
    let mut o = ActuatorOrchestration::new("ssh-bad-template")
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg)
        .agent(Arc::new(agent))
        .memory_state();
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(!rt.block_on(o.initiate_system()));
    let failures = o.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].task, "bad");
    assert!(
        failures[0].error.contains("NOT_DEFINED_ANYWHERE"),
        "{}",
        failures[0].error
    );
    assert!(!dir.path().join("bad.conf").exists());
}
