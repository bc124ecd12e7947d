//! The system's outputs, as `terraform output` shows them: each role's host and address, and the
//! values the model marks as outputs — read from the model with the outputs the state records,
//! so a new process prints what the last `up` left.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::{ActuatorOrchestration, OrchestrationError};
use crate::model::{At, Located, Out, Val};
use crate::namespace::{HostRef, Role, VarRef, expand_for, expand_revealing};

/// What a marked output reads ([`ActuatorOrchestration::output`]).
#[derive(Clone, Debug, PartialEq)]
pub enum OutputSource {
    /// A resource's output (`infra.root().fip.ip`).
    Out(At, &'static str),
    /// A namespace variable as a container or role sees it (`ns.root().v.URL`).
    Var(VarRef),
    /// A namespace variable by name, as the namespace's root sees it.
    VarName(String),
    /// A fixed value.
    Lit(String),
    /// Text given for a typed value that does not parse (`Val::Invalid`): the pre-flight
    /// refuses it; it shows as written.
    Invalid {
        /// The text as written.
        text: String,
        /// Why it does not parse.
        error: String,
    },
}

impl<T> From<Out<T>> for OutputSource {
    fn from(o: Out<T>) -> Self {
        OutputSource::Out(o.at(), o.attr())
    }
}

impl From<VarRef> for OutputSource {
    fn from(v: VarRef) -> Self {
        OutputSource::Var(v)
    }
}

impl<T: fmt::Display> From<Val<T>> for OutputSource {
    fn from(v: Val<T>) -> Self {
        match v {
            Val::Lit(x) => OutputSource::Lit(x.to_string()),
            Val::Out(o) => o.into(),
            Val::Var(v) => OutputSource::Var(v),
            Val::Invalid { text, error } => OutputSource::Invalid { text, error },
        }
    }
}

/// One role's host and address.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoleOutput {
    /// The role's model path.
    pub role: String,
    /// Its host as declared: an infra resource's model path or a host name.
    pub host: Option<String>,
    /// Its address: the host resource's `ip` output, or the host name expanded; `None` while
    /// unknown (not provisioned yet).
    pub address: Option<String>,
}

/// One marked output's value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputValue {
    /// The value (secrets in it shown as `***`); `None` while unknown.
    pub value: Option<String>,
    /// Whether the value holds a secret (and is therefore shown masked).
    pub sensitive: bool,
    /// Why the value is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

/// The system's outputs ([`ActuatorOrchestration::outputs`]; the `outputs` event of an `up`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SystemOutputs {
    /// The system.
    pub system: String,
    /// The workspace.
    pub workspace: String,
    /// Every role of the namespace, in creation order.
    pub roles: Vec<RoleOutput>,
    /// The marked outputs, by name.
    pub outputs: BTreeMap<String, OutputValue>,
}

impl fmt::Display for SystemOutputs {
    /// ```text
    /// Roles:
    ///   Site.web       10.0.0.5   (Hosts.web)
    /// Outputs:
    ///   url = "http://10.0.0.5:8080/"
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.roles.is_empty() {
            writeln!(f, "Roles:")?;
            let width = self.roles.iter().map(|r| r.role.len()).max().unwrap_or(0);
            for r in &self.roles {
                writeln!(
                    f,
                    "  {:<width$}  {}{}",
                    r.role,
                    r.address.as_deref().unwrap_or("(not known yet)"),
                    match &r.host {
                        Some(h) if Some(h) != r.address.as_ref() => format!("  ({h})"),
                        _ => String::new(),
                    }
                )?;
            }
        }
        if !self.outputs.is_empty() {
            writeln!(f, "Outputs:")?;
            for (name, v) in &self.outputs {
                match &v.value {
                    Some(value) => writeln!(
                        f,
                        "  {name} = {value:?}{}",
                        if v.sensitive { "  (sensitive)" } else { "" }
                    )?,
                    None => writeln!(
                        f,
                        "  {name} = (not known yet: {})",
                        v.missing.as_deref().unwrap_or("unknown")
                    )?,
                }
            }
        }
        Ok(())
    }
}

impl ActuatorOrchestration {
    /// Marks `value` as an output of the system, named `name`: a resource output
    /// (`infra.root().fip.ip`), a namespace variable (`ns.root().v.URL`) or any `Val`. `up`
    /// reports it at its end and [`Self::outputs`] reads it from the state, like
    /// `terraform output`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use actuator::prelude::*;
    /// use actuator::orchestrate::ActuatorOrchestration;
    /// use actuator::provision::SimProxy;
    /// use actuator::infra::test::{Network, Server};
    ///
    /// #[derive(InfraModel)]
    /// struct Small {
    ///     #[component(Network::new("net"))]
    ///     net: Network,
    ///     #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    ///     web: Server,
    /// }
    /// namespace! {
    ///     struct Site for Small {
    ///         vars { URL = "http://!{IP}:8080/" }
    ///         web: Role = Role::new("web").host_ref(infra.web).var("IP", infra.web.ip),
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let infra = Small::instance("small");
    /// let ns = Site::instance("site", &infra);
    /// let mut orch = ActuatorOrchestration::new("doc-outputs")
    ///     .infra(&infra)
    ///     .namespace(&ns)
    ///     .proxy(Arc::new(SimProxy::default()))
    ///     .memory_state()
    ///     .output("web_ip", infra.root().web.ip)
    ///     .output("url", ns.root().web.v("URL"));
    /// assert!(orch.initiate_system().await);
    /// let out = orch.outputs().unwrap();
    /// let ip = out.outputs["web_ip"].value.clone().unwrap();
    /// assert_eq!(out.outputs["url"].value, Some(format!("http://{ip}:8080/")));
    /// assert_eq!(out.roles[0].address, Some(ip));
    /// # });
    /// ```
    pub fn output(mut self, name: impl Into<String>, value: impl Into<OutputSource>) -> Self {
        let name = name.into();
        self.declared_outputs.retain(|(n, _)| *n != name);
        self.declared_outputs.push((name, value.into()));
        self
    }

    /// Marks the namespace variable `name`, as the namespace's root sees it, as an output of
    /// the same name.
    pub fn output_var(self, name: &str) -> Self {
        self.output(name, OutputSource::VarName(name.to_owned()))
    }

    /// The system's outputs: each role's host and address, and every marked output, with the
    /// outputs the state records (a new process shows what the last `up` left). Secrets show as
    /// `***`.
    ///
    /// # Errors
    /// If the state cannot be opened.
    pub fn outputs(&mut self) -> Result<SystemOutputs, OrchestrationError> {
        self.restore_outputs()?;
        Ok(self.collect_outputs())
    }

    /// The outputs from the model as it stands.
    pub(super) fn collect_outputs(&self) -> SystemOutputs {
        let mut out = SystemOutputs {
            system: self.system.clone(),
            workspace: self.workspace.clone(),
            ..SystemOutputs::default()
        };
        let Some(w) = &self.world else { return out };
        let roles: Vec<At> = {
            let g = w.lock();
            match g.namespace() {
                Some(t) => t
                    .leaves()
                    .filter(|(_, e)| e.kind() == "namespace.Role")
                    .map(|(n, _)| At {
                        model: t.id,
                        node: n,
                    })
                    .collect(),
                None => Vec::new(),
            }
        };
        for at in roles {
            let (role, host) = {
                let g = w.lock();
                (
                    g.describe(at),
                    g.tree(at.model)
                        .get::<Role>(at.node)
                        .and_then(|r| r.host.clone()),
                )
            };
            let (host, address) = match host {
                None => (None, None),
                Some(HostRef::Name(n)) => (Some(n.clone()), expand_for(w, at, &n).ok()),
                Some(HostRef::Infra(r)) => {
                    let g = w.lock();
                    (Some(g.describe(r)), g.output(r, "ip").map(str::to_owned))
                }
            };
            out.roles.push(RoleOutput {
                role,
                host,
                address,
            });
        }
        let root = self.ns_root;
        for (name, src) in &self.declared_outputs {
            let read = |reader: At, template: &str| {
                let shown = expand_for(w, reader, template);
                let real = expand_revealing(w, reader, template);
                match (shown, real) {
                    (Ok(shown), Ok(real)) => OutputValue {
                        sensitive: shown != real,
                        value: Some(shown),
                        missing: None,
                    },
                    (Err(e), _) | (_, Err(e)) => OutputValue {
                        value: None,
                        sensitive: false,
                        missing: Some(e.to_string()),
                    },
                }
            };
            let value = match src {
                OutputSource::Lit(v) | OutputSource::Invalid { text: v, .. } => OutputValue {
                    value: Some(v.clone()),
                    sensitive: false,
                    missing: None,
                },
                OutputSource::Out(at, attr) => {
                    let g = w.lock();
                    match g.output(*at, attr) {
                        Some(v) => OutputValue {
                            value: Some(v.to_owned()),
                            sensitive: false,
                            missing: None,
                        },
                        None => OutputValue {
                            value: None,
                            sensitive: false,
                            missing: Some(format!(
                                "{}.{attr} is not provisioned yet",
                                g.describe(*at)
                            )),
                        },
                    }
                }
                OutputSource::Var(v) => read(v.at(), &format!("!{{{}}}", v.name())),
                OutputSource::VarName(n) => match root {
                    Some(root) => read(root, &format!("!{{{n}}}")),
                    None => OutputValue {
                        value: None,
                        sensitive: false,
                        missing: Some("the orchestration has no namespace".into()),
                    },
                },
            };
            out.outputs.insert(name.clone(), value);
        }
        out
    }
}
