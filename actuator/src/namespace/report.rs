//! The variable report per role (the original's `namespace_report`), used by `plan` and `report`.

use std::fmt;

use super::vars::{expand_partial, visible_vars};
use super::{HostRef, Role};
use crate::model::At;
use crate::model::build::Shared;

/// One variable as one role sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct VarReport {
    /// The variable's name.
    pub name: String,
    /// Its value, expanded as far as possible (unresolved parts kept as `!{NAME}`).
    pub value: String,
    /// Whether it expanded completely.
    pub resolved: bool,
    /// What is missing, when not resolved.
    pub missing: Vec<String>,
    /// The model path of the container or role that defines it.
    pub from: String,
    /// Whether it is exported to task environments.
    pub in_env: bool,
}

/// All variables of one role.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleReport {
    /// The role's model path.
    pub role: String,
    /// The role's host, as declared.
    pub host: Option<String>,
    /// Its variables, by name.
    pub vars: Vec<VarReport>,
}

impl RoleReport {
    /// Variables that do not resolve yet.
    pub fn unresolved(&self) -> impl Iterator<Item = &VarReport> {
        self.vars.iter().filter(|v| !v.resolved)
    }
}

impl fmt::Display for RoleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}  (host: {})",
            self.role,
            self.host.as_deref().unwrap_or("-")
        )?;
        for v in &self.vars {
            let state = if v.resolved { "ok" } else { "UNRESOLVED" };
            let env = if v.in_env { "env" } else { "   " };
            writeln!(
                f,
                "  {:<20} {env} {state:<10} {:<40} from {}",
                v.name, v.value, v.from
            )?;
        }
        Ok(())
    }
}

pub(super) fn report(w: &Shared, roles: &[At]) -> Vec<RoleReport> {
    roles
        .iter()
        .map(|&r| {
            let (role, host) = {
                let g = w.lock();
                let host = g.tree(r.model).get::<Role>(r.node).and_then(|role| {
                    role.host.as_ref().map(|h| match h {
                        HostRef::Infra(at) => g.describe(*at),
                        HostRef::Name(n) => n.clone(),
                    })
                });
                (g.describe(r), host)
            };
            let vars = visible_vars(w, r)
                .into_iter()
                .map(|(v, owner)| {
                    let p = expand_partial(w, r, &format!("!{{{}}}", v.name));
                    let mut missing = p.missing.clone();
                    if let Some(c) = p.cycle {
                        missing.push(format!("cycle {}", c.join(" -> ")));
                    }
                    VarReport {
                        resolved: p.missing.is_empty() && missing.is_empty(),
                        value: p.text,
                        missing,
                        from: w.lock().describe(owner),
                        in_env: v.in_env,
                        name: v.name,
                    }
                })
                .collect();
            RoleReport { role, host, vars }
        })
        .collect()
}
