//! Checks of the model that only its instance can answer, run by every plan (so before `up`
//! touches anything): variables read by name — `role.v("NAME")` in a resource's arguments,
//! `.output(…, role.v("NAME"))`, `.output_var("NAME")` — must be defined for their reader. A name
//! nothing defines is an error naming the reader's model path, the name, and the names the reader
//! does see; a value that waits for an output is not.
//!
//! Every typed argument's text must parse as its type: a literal, and a variable's value where
//! it is known before provisioning.
//!
//! (Task templates are resolved for every role by the config phase's pre-flight; proxies validate
//! their resources' arguments in `plan::validate`.)

use super::ActuatorOrchestration;
use super::outputs::OutputSource;
use super::plan::PlanBlocker;
use crate::model::{At, Element, Located, Unparsed, unparsable};
use crate::namespace::{Missing, TypedVarError, VarRef, parse_var, visible_vars, why_missing};

impl ActuatorOrchestration {
    /// Every reference the infra's resources and the namespace's roles hold must be into this
    /// system: a foreign one is an error naming the resource or role, found before any lookup
    /// would panic on it. (Tasks' roles are the task graph's: `TaskGraph::errors`.)
    pub(super) fn check_foreign_refs(&self, errors: &mut Vec<PlanBlocker>) {
        let Some(w) = &self.world else { return };
        let g = w.lock();
        for tree in [g.infra(), g.namespace()].into_iter().flatten() {
            for (node, element) in tree.leaves() {
                let mut foreign = Vec::new();
                element.visit_refs(&mut |at| {
                    if !g.contains(at.model) && !foreign.contains(&at) {
                        foreign.push(at)
                    }
                });
                for at in foreign {
                    errors.push(PlanBlocker {
                        key: tree.dotted(node),
                        error: format!("{} refers to {}", element.kind(), foreign_path(at)),
                    });
                }
            }
        }
    }

    /// Every variable read by name by the arguments of the infra's resource at model path `key`
    /// (`vars`, as [`args_reading`](crate::provision::args_reading) noted them) must be defined
    /// for its reader.
    pub(super) fn check_vars_read(
        &self,
        vars: &[VarRef],
        key: &str,
        errors: &mut Vec<PlanBlocker>,
    ) {
        for v in vars {
            if let Some(e) = undefined(self, v.at(), v.name()) {
                errors.push(PlanBlocker {
                    key: key.to_owned(),
                    error: format!("an argument {e}"),
                });
            }
        }
    }

    /// Every variable the marked outputs read by name must be defined for its reader.
    pub(super) fn check_output_vars(&self, errors: &mut Vec<PlanBlocker>) {
        let Some(w) = &self.world else { return };
        let root = w.lock().namespace().map(|t| At {
            model: t.id,
            node: 0,
        });
        for (name, source) in &self.declared_outputs {
            let (reader, var) = match source {
                OutputSource::Var(v) => (v.at(), v.name()),
                OutputSource::VarName(n) => match root {
                    Some(r) => (r, n.as_str()),
                    None => continue,
                },
                OutputSource::Invalid { text, error } => {
                    errors.push(PlanBlocker {
                        key: format!("output `{name}`"),
                        error: unparsable(text, error),
                    });
                    continue;
                }
                OutputSource::Out(..) | OutputSource::Lit(_) => continue,
            };
            if let Some(e) = undefined(self, reader, var) {
                errors.push(PlanBlocker {
                    key: format!("output `{name}`"),
                    error: format!("it {e}"),
                });
            }
        }
    }

    /// Every typed argument's text must parse as its type — a literal (a CIDR of `10.0.0.0/33`),
    /// and a variable's value where it is known before provisioning (not one that waits for an
    /// output): known from the model alone, whichever proxy provisions the resource.
    pub(super) fn check_typed_args(
        &self,
        element: &dyn Element,
        key: &str,
        errors: &mut Vec<PlanBlocker>,
    ) {
        let Some(w) = &self.world else { return };
        element.visit_unparsed(&mut |arg, value| {
            let why = match value {
                Unparsed::Text { text, error } => unparsable(text, error),
                Unparsed::Var { var, parse } => {
                    // Undefined is check_var_refs's error; a value waiting for an output is
                    // checked when it is known.
                    if why_missing(w, var.at(), var.name()).is_some() {
                        return;
                    }
                    match parse_var(w, var, parse) {
                        Err(TypedVarError::Parse(m)) => m,
                        Ok(()) | Err(TypedVarError::Expand(_)) => return,
                    }
                }
            };
            errors.push(PlanBlocker {
                key: key.to_owned(),
                error: crate::provision::Invalid::new(arg, why).to_string(),
            });
        });
    }
}

/// "a path of model ModelId(3), which is not part of this system (…)": another system's, or a
/// class-level path taken out of `Class::map`, which no lookup in this system can follow.
pub(super) fn foreign_path(at: At) -> String {
    format!(
        "a path of model {:?}, which is not part of this system (one of another system's instance, or a class-level path taken out of `Model::class().map(…)`); take it from this system's models (`ctx.model.…`, `ctx.nexus.…`, `infra.…`, `ns.…`)",
        at.model
    )
}

/// "reads variable `NAME` of `Site.web`, which nothing visible from it defines; it sees `A`,
/// `B`", when nothing defines `name` for `reader` (a value still waiting is no error).
fn undefined(o: &ActuatorOrchestration, reader: At, name: &str) -> Option<String> {
    let w = o.world.as_ref()?;
    if !w.lock().contains(reader.model) {
        return Some(format!(
            "reads variable `{name}` of {}",
            foreign_path(reader)
        ));
    }
    if why_missing(w, reader, name) != Some(Missing::Undefined) {
        return None;
    }
    let who = w.lock().describe(reader);
    let mut seen: Vec<String> = visible_vars(w, reader)
        .into_iter()
        .map(|(v, _)| format!("`{}`", v.name))
        .collect();
    seen.sort();
    let sees = if seen.is_empty() {
        "it sees no variables".to_owned()
    } else {
        format!("it sees {}", seen.join(", "))
    };
    Some(format!(
        "reads variable `{name}` of {who}, which nothing visible from it defines; {sees}"
    ))
}
