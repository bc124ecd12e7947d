//! Task declarations with the original's parameters. Running them is the execution agents' job.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::ConfigModel;
use crate::model::build::Shared;
use crate::model::{At, Element, FromAt, IntoRef, Located, Query, Ref};
use crate::namespace::Role;
use crate::secret::Secret;

/// What a task does.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskKind {
    /// Nothing (tests, joins).
    Null,
    /// Connects to the host and returns.
    Ping,
    /// A program and its arguments, run without a shell (see [`CommandLine`]).
    Command(CommandLine),
    /// A command line run by `/bin/sh -c`. `!{VAR}`s are expanded into the line as text, so the
    /// shell reads their values as syntax (see [`ShellTask`]).
    Shell(String),
    /// A local script copied to the host, run with `args`, then removed.
    Script {
        /// The local script.
        path: PathBuf,
        /// Its arguments.
        args: Vec<String>,
        /// Whether `!{VAR}`s in the script are expanded for the task's role first.
        template: bool,
    },
    /// Copies a file, a directory (recursively) or inline content to `dest`.
    CopyFile {
        /// Where it goes on the host.
        dest: String,
        /// A local file or directory (`dir/` copies the contents, `dir` the directory itself).
        src: Option<PathBuf>,
        /// Inline content instead of `src`.
        content: Option<String>,
        /// Whether content is expanded through the role's variables (unresolved = error).
        template: bool,
    },
    /// A command run on the machine running actuator, without a shell; never opens SSH.
    LocalCommand(CommandLine),
    /// A shell command line run locally; never opens SSH.
    LocalShell(String),
}

/// The program and arguments of a [`CommandTask`] or [`LocalCommandTask`], as declared; each
/// word is a template whose `!{VAR}`s are expanded for the task's role when it runs.
///
/// However the words are given, a value is always (part of) exactly the one argument its
/// `!{VAR}` stands in: `x; touch F`, `two words`, `say "hi" \ back` and `O'Brien` each arrive
/// as one argument, exactly as they are. No shell reads them, locally or over SSH.
///
/// ```
/// use actuator::config::CommandLine;
///
/// // A line is split into words first (quotes and backslashes group and escape, as in a shell)…
/// let line = CommandLine::Line(r#"grep -q "listen !{PORT}" !{DIR}/app.conf"#.into());
/// assert_eq!(line.words().unwrap(), ["grep", "-q", "listen !{PORT}", "!{DIR}/app.conf"]);
/// // …then each word is expanded on its own. Or give the words one by one:
/// let argv = CommandLine::Argv(vec!["grep".into(), "-q".into(), "listen !{PORT}".into()]);
/// assert_eq!(argv.words().unwrap(), ["grep", "-q", "listen !{PORT}"]);
///
/// assert_eq!(CommandLine::Line("echo 'open".into()).words().unwrap_err(), "missing closing quote");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum CommandLine {
    /// One line, split into words with shell-words rules (single and double quotes, backslash
    /// escapes; `$`, `;`, `|`, backticks and globs are plain text) *before* any `!{VAR}` is
    /// expanded.
    Line(String),
    /// The words one by one: each is one argument.
    Argv(Vec<String>),
}

impl CommandLine {
    /// The words, each still a template. A line with an unclosed quote or a trailing backslash
    /// is an error saying so.
    pub fn words(&self) -> Result<Vec<String>, String> {
        match self {
            CommandLine::Line(line) => shell_words::split(line).map_err(|e| e.to_string()),
            CommandLine::Argv(words) => Ok(words.clone()),
        }
    }
}

/// One task of a config model.
#[derive(Clone, Debug)]
pub struct Task {
    name: String,
    /// What it does.
    pub kind: TaskKind,
    /// The role whose variables it reads (and whose host runs it, unless `run_from` says otherwise).
    pub role: Option<At>,
    /// Run on this role's host, with `role`'s variables.
    pub run_from: Option<At>,
    /// Remote user (else the model's, else the current user).
    pub remote_user: Option<String>,
    /// Remote password; never logged or stored.
    pub remote_pass: Option<Secret>,
    /// Private key file.
    pub private_key_file: Option<PathBuf>,
    /// Working directory on the host.
    pub chdir: Option<String>,
    /// Skip the task if this path exists on the host.
    pub creates: Option<String>,
    /// Skip the task unless this path exists on the host.
    pub removes: Option<String>,
    /// File mode for copies.
    pub mode: Option<u32>,
    /// Owner for copies.
    pub owner: Option<String>,
    /// Group for copies.
    pub group: Option<String>,
    /// Attempts before the task fails.
    pub repeat_count: u32,
    /// Wait between attempts.
    pub repeat_interval: Duration,
}

impl Task {
    /// A task `name` of `kind` with the original's defaults (one attempt, 15 s interval).
    pub fn new(name: impl Into<String>, kind: TaskKind) -> Task {
        Task {
            name: name.into(),
            kind,
            role: None,
            run_from: None,
            remote_user: None,
            remote_pass: None,
            private_key_file: None,
            chdir: None,
            creates: None,
            removes: None,
            mode: None,
            owner: None,
            group: None,
            repeat_count: 1,
            repeat_interval: Duration::from_secs(15),
        }
    }
    /// The declared name.
    pub fn name(&self) -> &str {
        &self.name
    }
    super::defaults::login_builders!();

    /// Sets the working directory.
    pub fn chdir(mut self, d: impl Into<String>) -> Self {
        self.chdir = Some(d.into());
        self
    }
    /// Skips the task when `path` exists.
    pub fn creates(mut self, path: impl Into<String>) -> Self {
        self.creates = Some(path.into());
        self
    }
    /// Skips the task unless `path` exists.
    pub fn removes(mut self, path: impl Into<String>) -> Self {
        self.removes = Some(path.into());
        self
    }
    /// Sets the mode of copied files.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }
    /// Sets owner and group of copied files.
    pub fn owner(mut self, owner: impl Into<String>, group: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self.group = Some(group.into());
        self
    }
    /// Retries: up to `count` attempts, `interval` apart.
    pub fn repeat(mut self, count: u32, interval: Duration) -> Self {
        self.repeat_count = count.max(1);
        self.repeat_interval = interval;
        self
    }
    /// Sets the source of a copy.
    pub fn src(mut self, p: impl Into<PathBuf>) -> Self {
        if let TaskKind::CopyFile { src, .. } = &mut self.kind {
            *src = Some(p.into());
        }
        self
    }
    /// Sets the inline content of a copy.
    pub fn content(mut self, c: impl Into<String>) -> Self {
        if let TaskKind::CopyFile { content, .. } = &mut self.kind {
            *content = Some(c.into());
        }
        self
    }
    /// Sets the arguments of a script.
    pub fn args<S: Into<String>>(mut self, a: impl IntoIterator<Item = S>) -> Self {
        if let TaskKind::Script { args, .. } = &mut self.kind {
            *args = a.into_iter().map(Into::into).collect();
        }
        self
    }
    /// Expands `!{VAR}`s in a script's text for the task's role before running it.
    pub fn templated(mut self) -> Self {
        if let TaskKind::Script { template, .. } | TaskKind::CopyFile { template, .. } =
            &mut self.kind
        {
            *template = true;
        }
        self
    }
}

macro_rules! task_ctor {
    ($(#[$m:meta])* $ty:ident ( $($arg:ident : $t:ty),* ) => $kind:expr) => {
        $(#[$m])*
        pub struct $ty;
        impl $ty {
            #[allow(clippy::new_ret_no_self)]
            /// Declares the task.
            pub fn new(name: impl Into<String> $(, $arg: $t)*) -> Task {
                Task::new(name, $kind)
            }
        }
    };
}

task_ctor!(/// A task that does nothing.
    NullTask() => TaskKind::Null);
task_ctor!(/// Checks the host is reachable.
    PingTask() => TaskKind::Ping);
task_ctor!(
    /// Runs a program with arguments, without a shell.
    ///
    /// `CommandTask::new(name, line)` splits `line` into words (shell-words rules) and then
    /// expands the `!{VAR}`s inside each word, so a variable's value is always (part of) exactly
    /// the one argument it stands in, whatever spaces, quotes or shell syntax it holds;
    /// [`CommandTask::argv`] takes the words one by one. See [`CommandLine`].
    ///
    /// ```
    /// use actuator::config::{CommandLine, CommandTask, TaskKind};
    ///
    /// let t = CommandTask::new("greet", "printf '%s\\n' !{WHO}");
    /// assert_eq!(t.kind, TaskKind::Command(CommandLine::Line("printf '%s\\n' !{WHO}".into())));
    /// // With WHO = `O'Brien; rm -rf /`, printf gets exactly two arguments: `%s\n` and the value.
    /// ```
    CommandTask(line: impl Into<String>) => TaskKind::Command(CommandLine::Line(line.into())));
impl CommandTask {
    /// A command given word by word: `words[0]` is the program, each further word one argument
    /// (its `!{VAR}`s expanded for the task's role).
    ///
    /// ```
    /// use actuator::config::{CommandLine, CommandTask, TaskKind};
    ///
    /// let t = CommandTask::argv("touch", ["touch", "!{DIR}/a file with spaces"]);
    /// let TaskKind::Command(CommandLine::Argv(words)) = &t.kind else { unreachable!() };
    /// assert_eq!(words, &["touch", "!{DIR}/a file with spaces"]);
    /// ```
    pub fn argv<S: Into<String>>(
        name: impl Into<String>,
        words: impl IntoIterator<Item = S>,
    ) -> Task {
        Task::new(
            name,
            TaskKind::Command(CommandLine::Argv(
                words.into_iter().map(Into::into).collect(),
            )),
        )
    }
}
task_ctor!(
    /// Runs a command line with `/bin/sh -c`: pipes, redirections, `&&` and `$VAR` work.
    ///
    /// **A `!{VAR}` in the line is injection by design.** It is expanded into the line as text
    /// before the shell reads it, so a value holding `;`, quotes, `$(…)` or a newline is shell
    /// syntax: `ShellTask::new("note", "echo !{MSG} > note")` with `MSG = "hi; rm -rf ~"` runs
    /// `rm`. Use `!{VAR}` in a shell line only for values you write yourself, never for input.
    ///
    /// **The safe form** reads the variable from the environment: every namespace variable the
    /// task's role sees (except `hidden` ones) is exported to the task, so write `"$VAR"` —
    /// double-quoted, so the shell neither splits nor globs it — and the value stays one
    /// literal word: `ShellTask::new("note", r#"printf '%s\n' "$MSG" > note"#)`. Or use a
    /// [`CommandTask`], which runs no shell at all.
    ///
    /// ```
    /// use actuator::config::{ShellTask, TaskKind};
    ///
    /// let safe = ShellTask::new("note", r#"printf '%s\n' "$MSG" > "$WORKDIR/note""#);
    /// assert!(matches!(safe.kind, TaskKind::Shell(_)));
    /// ```
    ShellTask(cmd: impl Into<String>) => TaskKind::Shell(cmd.into()));
task_ctor!(/// Uploads and runs a local script.
    ScriptTask(path: impl Into<PathBuf>) => TaskKind::Script { path: path.into(), args: Vec::new(), template: false });
task_ctor!(/// Copies files or content to the host.
    CopyFileTask(dest: impl Into<String>) => TaskKind::CopyFile { dest: dest.into(), src: None, content: None, template: false });
task_ctor!(/// Copies files or content, expanded through the role's variables.
    ProcessCopyFileTask(dest: impl Into<String>) => TaskKind::CopyFile { dest: dest.into(), src: None, content: None, template: true });
task_ctor!(/// Runs a command locally, without a shell; its line is split as [`CommandTask`]'s is.
    LocalCommandTask(line: impl Into<String>) => TaskKind::LocalCommand(CommandLine::Line(line.into())));
impl LocalCommandTask {
    /// A local command given word by word, as [`CommandTask::argv`].
    ///
    /// ```
    /// use actuator::config::{CommandLine, LocalCommandTask, TaskKind};
    ///
    /// let t = LocalCommandTask::argv("mark", ["touch", "!{STAMP}"]);
    /// assert!(matches!(t.kind, TaskKind::LocalCommand(CommandLine::Argv(_))));
    /// ```
    pub fn argv<S: Into<String>>(
        name: impl Into<String>,
        words: impl IntoIterator<Item = S>,
    ) -> Task {
        Task::new(
            name,
            TaskKind::LocalCommand(CommandLine::Argv(
                words.into_iter().map(Into::into).collect(),
            )),
        )
    }
}
task_ctor!(/// Runs a shell command line locally (`!{VAR}`s in it are injection, as for [`ShellTask`]).
    LocalShellCommandTask(cmd: impl Into<String>) => TaskKind::LocalShell(cmd.into()));

impl Element for Task {
    fn kind(&self) -> &'static str {
        "config.Task"
    }
    fn base_name(&self) -> &str {
        &self.name
    }
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        self.role.iter().chain(&self.run_from).for_each(|a| f(*a))
    }
}

macro_rules! task_path {
    ($path:ident, $ty:ty $(, $g:ident)?) => {
        /// Typed path to a task.
        pub struct $path $(<$g>)? { __at: At $(, _c: PhantomData<fn() -> $g>)? }
        impl $(<$g>)? Clone for $path $(<$g>)? { fn clone(&self) -> Self { *self } }
        impl $(<$g>)? Copy for $path $(<$g>)? {}
        impl $(<$g>)? std::fmt::Debug for $path $(<$g>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($path), self.__at)
            }
        }
        impl $(<$g>)? Located for $path $(<$g>)? { fn at(&self) -> At { self.__at } }
        impl $(<$g>)? FromAt for $path $(<$g>)? {
            fn from_at(at: At) -> Self { $path { __at: at $(, _c: PhantomData::<fn() -> $g>)? } }
        }
        impl $(<$g>)? IntoRef<$ty> for $path $(<$g>)? {
            fn into_ref(self) -> Ref<$ty> { Ref::new(self.__at) }
        }
    };
}
task_path!(TaskPath, Task);
task_path!(MultiTaskPath, MultiTask);
task_path!(ConfigClassTaskPath, ConfigClassTask<C>, C);
crate::__leaf_component!(
    Task,
    TaskPath,
    TaskPath::from_at,
    TaskPath { __at: At::UNPLACED }
);
crate::__leaf_component!(
    MultiTask,
    MultiTaskPath,
    MultiTaskPath::from_at,
    MultiTaskPath { __at: At::UNPLACED }
);

/// Which roles a [`MultiTask`] runs for.
#[derive(Clone, Debug)]
pub enum Selection {
    /// A query over keyed role containers (`q.grid.all()`).
    Query(Query<Role>),
    /// An explicit list of roles.
    Roles(Vec<At>),
}

/// What a [`MultiTask`] accepts as its roles.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a selection of roles",
    label = "a MultiTask runs once per role: select roles of the namespace here",
    note = "use a query over a keyed role container (`q.grid.all()`, `.key(..)`, `Query::union(..)`) or a list of role paths"
)]
pub trait IntoSelection {
    /// The selection.
    fn into_selection(self) -> Selection;
}

impl IntoSelection for Selection {
    fn into_selection(self) -> Selection {
        self
    }
}
impl IntoSelection for Query<Role> {
    fn into_selection(self) -> Selection {
        Selection::Query(self)
    }
}
impl<R: IntoRef<Role>, const N: usize> IntoSelection for [R; N] {
    fn into_selection(self) -> Selection {
        Selection::Roles(self.into_iter().map(|r| r.into_ref().at()).collect())
    }
}
impl<R: IntoRef<Role>> IntoSelection for Vec<R> {
    fn into_selection(self) -> Selection {
        Selection::Roles(self.into_iter().map(|r| r.into_ref().at()).collect())
    }
}

impl Selection {
    /// The selected roles.
    pub fn roles(&self, w: &Shared) -> Vec<At> {
        match self {
            Selection::Query(q) => q.select(w),
            Selection::Roles(r) => r.clone(),
        }
    }
}

/// What a [`MultiTask`] repeats per role: a task, or a whole config model (one pipeline per role).
#[derive(Clone)]
pub enum MultiTemplate {
    /// A task, cloned per role.
    Task(Box<Task>),
    /// A nested config model (a `ConfigClassTask`), instantiated per role with that role as its
    /// default.
    Nested(String, Arc<dyn Nested>),
}

impl std::fmt::Debug for MultiTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MultiTemplate::Task(t) => t.fmt(f),
            MultiTemplate::Nested(name, _) => write!(f, "ConfigClassTask({name})"),
        }
    }
}

impl From<Task> for MultiTemplate {
    fn from(t: Task) -> Self {
        MultiTemplate::Task(Box::new(t))
    }
}

impl<C: ConfigModel> From<ConfigClassTask<C>> for MultiTemplate {
    fn from(c: ConfigClassTask<C>) -> Self {
        MultiTemplate::Nested(c.name.clone(), Arc::new(c))
    }
}

/// One copy of a template per selected role, named `<template>-<role>`; successors wait for all.
/// The template is a task, or a `ConfigClassTask` for one whole pipeline per role.
#[derive(Clone, Debug)]
pub struct MultiTask {
    name: String,
    /// The template, repeated per role.
    pub template: MultiTemplate,
    /// The roles.
    pub roles: Selection,
}

impl MultiTask {
    /// A copy of `template` per role selected by `roles`.
    pub fn new(
        name: impl Into<String>,
        template: impl Into<MultiTemplate>,
        roles: impl IntoSelection,
    ) -> MultiTask {
        MultiTask {
            name: name.into(),
            template: template.into(),
            roles: roles.into_selection(),
        }
    }
}

impl Element for MultiTask {
    fn kind(&self) -> &'static str {
        "config.MultiTask"
    }
    fn base_name(&self) -> &str {
        &self.name
    }
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        if let Selection::Roles(r) = &self.roles {
            r.iter().for_each(|a| f(*a))
        }
    }
}

/// A whole config model used as one task: its tasks run, in their own order, after this task's
/// predecessors and before its successors, with this task's role as their default role.
pub struct ConfigClassTask<C> {
    name: String,
    /// The default role of the inner model's tasks.
    pub role: Option<At>,
    _c: PhantomData<fn() -> C>,
}

impl<C> Clone for ConfigClassTask<C> {
    fn clone(&self) -> Self {
        ConfigClassTask {
            name: self.name.clone(),
            role: self.role,
            _c: PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for ConfigClassTask<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigClassTask")
            .field("name", &self.name)
            .field("model", &std::any::type_name::<C>())
            .finish()
    }
}

impl<C: ConfigModel> ConfigClassTask<C> {
    /// Wraps config model `C` as one task.
    pub fn new(name: impl Into<String>) -> Self {
        ConfigClassTask {
            name: name.into(),
            role: None,
            _c: PhantomData,
        }
    }
    /// The default role of the inner tasks.
    pub fn role(mut self, r: impl IntoRef<Role>) -> Self {
        self.role = Some(r.into_ref().at());
        self
    }
}

/// Type-erased access to a [`ConfigClassTask`]'s inner model, for graph expansion.
#[doc(hidden)]
pub trait Nested: Send + Sync {
    /// The default role of the inner tasks.
    fn role(&self) -> Option<At>;
    /// Builds a fresh instance of the inner model in `w`; returns its root, its declared edges and
    /// its defaults.
    fn instantiate(&self, w: &Shared) -> (At, Vec<(At, At)>, super::ConfigDefaults);
    /// The inner model's class and name: how the graph finds a model nested inside itself.
    fn model(&self) -> (crate::model::ModelId, &'static str);
    /// The inner model's namespace (class id and name): it must be the system's.
    fn namespace(&self) -> (crate::model::ModelId, &'static str);
}

impl<C: ConfigModel> Nested for ConfigClassTask<C> {
    fn role(&self) -> Option<At> {
        self.role
    }
    fn instantiate(&self, w: &Shared) -> (At, Vec<(At, At)>, super::ConfigDefaults) {
        let root = crate::model::build::instantiate_nested::<C>(w);
        (root, C::declared_edges(root), C::defaults(w))
    }
    fn model(&self) -> (crate::model::ModelId, &'static str) {
        (C::class_id(), C::NAME)
    }
    fn namespace(&self) -> (crate::model::ModelId, &'static str) {
        use crate::model::build::Model;
        (C::Namespace::class_id(), C::Namespace::NAME)
    }
}

/// What a [`ConfigClassTask`] leaves in the model tree: the same task with its model type erased,
/// so the graph can find it without knowing `C`.
#[derive(Clone)]
pub(crate) struct NestedTask {
    pub(crate) name: String,
    pub(crate) inner: Arc<dyn Nested>,
}

impl std::fmt::Debug for NestedTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConfigClassTask({})", self.name)
    }
}

impl Element for NestedTask {
    fn kind(&self) -> &'static str {
        "config.ConfigClassTask"
    }
    fn base_name(&self) -> &str {
        &self.name
    }
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        self.inner.role().iter().for_each(|a| f(*a))
    }
}

impl<C: ConfigModel> crate::model::Component for ConfigClassTask<C> {
    type Path = ConfigClassTaskPath<C>;
    type View<CV: Clone + Send + Sync + 'static> = CV;
    const SIZE: u32 = 1;
    fn layout(nodes: &mut Vec<crate::model::Node>, parent: u32, step: crate::model::Step) {
        crate::model::push_node(nodes, parent, step, crate::model::NodeKind::Leaf);
    }
    const UNPLACED: Self::Path = ConfigClassTaskPath {
        __at: At::UNPLACED,
        _c: PhantomData,
    };
    fn path(at: At) -> Self::Path {
        ConfigClassTaskPath::from_at(at)
    }
    fn build<CV: Clone + Send + Sync + 'static>(
        w: &Shared,
        at: At,
        up: CV,
        make: crate::model::Make<Self, CV>,
    ) {
        crate::model::build::build_leaf(w, at, up, &|env, cv| {
            let task = make(env, cv);
            NestedTask {
                name: task.name.clone(),
                inner: Arc::new(task),
            }
        })
    }
}
