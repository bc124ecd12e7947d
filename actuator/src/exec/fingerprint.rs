//! A task's fingerprint: a hash of everything that decides what it does on its host — the host,
//! the action with the files it reads, the exported variables, the login. The state records it
//! when the task finishes; a later `up` re-runs the task when it differs.

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Action, ExecTask, Template};

impl ExecTask {
    /// A hex SHA-256 over everything that decides what the task does. Files the task reads on
    /// this machine (a script, a copied file or directory) are hashed by content, so editing them
    /// changes the fingerprint; a file that cannot be read hashes as its error.
    ///
    /// ```
    /// use actuator::exec::{Action, ExecTask};
    /// let a = ExecTask::new("t", Action::Shell("echo $X".into())).env("X", "1");
    /// let b = ExecTask::new("t", Action::Shell("echo $X".into())).env("X", "2");
    /// assert_ne!(a.fingerprint(), b.fingerprint());
    /// assert_eq!(a.fingerprint(), a.clone().fingerprint());
    /// ```
    pub fn fingerprint(&self) -> String {
        let mut h = Fields(Sha256::new(), None);
        h.field("host", self.host.as_bytes());
        match &self.action {
            Action::Ping => h.field("ping", b""),
            Action::Command(argv) => {
                h.field("command", b"");
                for a in argv {
                    h.field("arg", a.as_bytes());
                }
            }
            Action::Shell(c) => h.field("shell", c.as_bytes()),
            Action::Script {
                path,
                args,
                content,
            } => {
                // (A templated script arrives rendered, in `content`.)
                match content {
                    Some(c) => h.field("script", c.as_bytes()),
                    None => h.file("script", path),
                }
                for a in args {
                    h.field("arg", a.as_bytes());
                }
            }
            Action::Copy(c) => {
                // A templated copy is hashed as rendered: a variable it reads is an input.
                h.1 = c.template.clone();
                h.field("dest", c.dest.as_bytes());
                if let Some(content) = &c.content {
                    h.rendered("content", content.as_bytes());
                }
                if let Some(src) = &c.src {
                    h.tree(src);
                }
                h.field("mode", format!("{:?}", c.mode).as_bytes());
                h.field("owner", format!("{:?}", c.owner).as_bytes());
                h.field("group", format!("{:?}", c.group).as_bytes());
                h.field("template", &[u8::from(c.template.is_some())]);
            }
        }
        let mut env: Vec<&(String, String)> = self.env.iter().collect();
        env.sort();
        for (k, v) in env {
            h.field("env", k.as_bytes());
            h.field("=", v.as_bytes());
        }
        for (name, v) in [
            ("chdir", &self.chdir),
            ("creates", &self.creates),
            ("removes", &self.removes),
            ("user", &self.user),
        ] {
            h.field(name, v.as_deref().unwrap_or("\0none").as_bytes());
        }
        if let Some(p) = &self.password {
            h.field("password", p.expose().as_bytes());
        }
        if let Some(k) = &self.key_file {
            h.field("key_file", k.as_os_str().as_encoded_bytes());
        }
        h.field("timeout", format!("{:?}", self.timeout).as_bytes());
        let mut hex = String::with_capacity(64);
        for b in h.0.finalize() {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }
}

/// Length-prefixed fields, so `("ab", "c")` and `("a", "bc")` hash differently.
struct Fields(Sha256, Option<Template>);

impl Fields {
    /// Copied text as the copy writes it: through the template, if there is one.
    fn rendered(&mut self, name: &str, text: &[u8]) {
        match (&self.1, std::str::from_utf8(text)) {
            (Some(t), Ok(text)) => match t(text) {
                Ok(out) => self.field(name, out.as_bytes()),
                Err(e) => self.field(name, e.as_bytes()),
            },
            _ => self.field(name, text),
        }
    }

    fn field(&mut self, name: &str, value: &[u8]) {
        self.0.update((name.len() as u64).to_le_bytes());
        self.0.update(name.as_bytes());
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value);
    }

    fn file(&mut self, name: &str, path: &Path) {
        match std::fs::read(path) {
            Ok(bytes) => self.rendered(name, &bytes),
            Err(e) => self.field(name, e.to_string().as_bytes()),
        }
    }

    /// A file, or a directory's files in name order with their relative paths.
    fn tree(&mut self, root: &Path) {
        let Ok(meta) = std::fs::metadata(root) else {
            return self.field("src", b"\0missing");
        };
        if !meta.is_dir() {
            return self.file("src", root);
        }
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
            entries.sort();
            for p in entries.into_iter().rev() {
                let rel = p.strip_prefix(root).unwrap_or(&p);
                self.field("path", rel.as_os_str().as_encoded_bytes());
                if p.is_dir() {
                    stack.push(p);
                } else {
                    self.file("file", &p);
                }
            }
        }
    }
}
