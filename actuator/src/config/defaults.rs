use std::path::PathBuf;

use super::tasks::Task;
use crate::model::At;
use crate::secret::Secret;

/// Builder methods for who runs a task and where, shared by [`Task`] and [`ConfigDefaults`] (the
/// same five settings, set on one task or as a model's defaults).
macro_rules! login_builders {
    () => {
        /// Sets the role: whose variables the task reads and, unless `run_from` says otherwise,
        /// whose host runs it.
        pub fn role(mut self, r: impl $crate::model::IntoRef<$crate::namespace::Role>) -> Self {
            self.role = Some($crate::model::Located::at(&r.into_ref()));
            self
        }
        /// Runs on this role's host (with the task role's variables).
        pub fn run_from(mut self, r: impl $crate::model::IntoRef<$crate::namespace::Role>) -> Self {
            self.run_from = Some($crate::model::Located::at(&r.into_ref()));
            self
        }
        /// Sets the remote user.
        pub fn remote_user(mut self, u: impl Into<String>) -> Self {
            self.remote_user = Some(u.into());
            self
        }
        /// Sets the remote password.
        pub fn remote_pass(mut self, p: $crate::secret::Secret) -> Self {
            self.remote_pass = Some(p);
            self
        }
        /// Sets the private key file.
        pub fn private_key_file(mut self, p: impl Into<std::path::PathBuf>) -> Self {
            self.private_key_file = Some(p.into());
            self
        }
    };
}
pub(crate) use login_builders;

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
    login_builders!();

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
