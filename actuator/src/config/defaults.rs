use std::path::PathBuf;

use super::tasks::Task;
use crate::model::{At, IntoRef, Located};
use crate::namespace::Role;
use crate::secret::Secret;

/// What a config model's tasks get when they do not say: `defaults { … }` in `config!`.
///
/// ```
/// use actuator::prelude::*;
///
/// namespace! {
///     struct Hosts { web: Role = Role::new("web").host_ref("127.0.0.1") }
/// }
/// config! {
///     struct Setup for Hosts {
///         defaults { role = ns.web, remote_user = "deploy" }
///         hello: Task = ShellTask::new("hello", "echo hi"),
///     }
/// }
/// let ns = Hosts::instance("h");
/// let cfg = Setup::instance("s", &ns);
/// let task = cfg.graph().nodes[0].task.clone().unwrap();
/// assert_eq!(task.role, Some(ns.root().web.at()));
/// assert_eq!(task.remote_user.as_deref(), Some("deploy"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ConfigDefaults {
    /// Role of tasks that name none.
    pub role: Option<At>,
    /// Host role of tasks that name none.
    pub run_from: Option<At>,
    /// Remote user.
    pub remote_user: Option<String>,
    /// Remote password.
    pub remote_pass: Option<Secret>,
    /// Private key file.
    pub private_key_file: Option<PathBuf>,
}

impl ConfigDefaults {
    /// Sets the default role.
    pub fn role(mut self, r: impl IntoRef<Role>) -> Self {
        self.role = Some(r.into_ref().at());
        self
    }
    /// Sets the default host role.
    pub fn run_from(mut self, r: impl IntoRef<Role>) -> Self {
        self.run_from = Some(r.into_ref().at());
        self
    }
    /// Sets the default remote user.
    pub fn remote_user(mut self, u: impl Into<String>) -> Self {
        self.remote_user = Some(u.into());
        self
    }
    /// Sets the default remote password.
    pub fn remote_pass(mut self, p: Secret) -> Self {
        self.remote_pass = Some(p);
        self
    }
    /// Sets the default private key file.
    pub fn private_key_file(mut self, p: impl Into<PathBuf>) -> Self {
        self.private_key_file = Some(p.into());
        self
    }

    /// These defaults, falling back to `outer` where unset (an inner model inside an outer one).
    pub fn or(self, outer: &ConfigDefaults) -> ConfigDefaults {
        ConfigDefaults {
            role: self.role.or(outer.role),
            run_from: self.run_from.or(outer.run_from),
            remote_user: self.remote_user.or_else(|| outer.remote_user.clone()),
            remote_pass: self.remote_pass.or_else(|| outer.remote_pass.clone()),
            private_key_file: self
                .private_key_file
                .or_else(|| outer.private_key_file.clone()),
        }
    }

    /// Fills what `task` leaves unset.
    pub fn apply(&self, task: &mut Task) {
        task.role = task.role.or(self.role);
        task.run_from = task.run_from.or(self.run_from);
        if task.remote_user.is_none() {
            task.remote_user.clone_from(&self.remote_user);
        }
        if task.remote_pass.is_none() {
            task.remote_pass.clone_from(&self.remote_pass);
        }
        if task.private_key_file.is_none() {
            task.private_key_file.clone_from(&self.private_key_file);
        }
    }
}
