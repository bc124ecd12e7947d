//! Inputs: values for the namespace's `extern { NAME }` variables (or new values for its own
//! variables), given in code ([`ActuatorOrchestration::var`], [`ActuatorOrchestration::vars`],
//! [`ActuatorOrchestration::secret_var`]) or on the command line — `--var NAME=VALUE`
//! ([`parse_var`]), `--var-file FILE` in TOML or JSON ([`read_var_file`]), and
//! `ACTUATOR_VAR_NAME` environment variables ([`from_env`]).
//!
//! Inputs go on the namespace's root, so a variable a role or container defines itself still
//! wins there (the namespace's scoping rule). When several sources give one name, the last one
//! given wins; the command line gives the environment first, then the files in order, then the
//! `--var`s, as Terraform does. A variable nothing defines and no input gives stops `up` before
//! anything runs, with an error naming it.
//!
//! A value given for a variable the model declares secret stays secret.
//!
//! ```
//! use actuator::orchestrate::inputs::{from_env_vars, parse_var};
//!
//! assert_eq!(parse_var("URL=http://x/?a=b").unwrap(), ("URL".into(), "http://x/?a=b".into()));
//! assert!(parse_var("URL").is_err());
//! let env = [("ACTUATOR_VAR_REGION", "eu-west-2"), ("HOME", "/root")];
//! assert_eq!(from_env_vars(env), [("REGION".to_string(), "eu-west-2".to_string())]);
//! ```

use std::path::Path;

use super::ActuatorOrchestration;
use crate::exec::support::valid_env_name;
use crate::namespace::{Var, find_var};
use crate::secret::Secret;

/// Environment variables with this prefix are inputs: `ACTUATOR_VAR_REGION=eu-west-2` gives
/// `REGION`.
pub const ENV_PREFIX: &str = "ACTUATOR_VAR_";

/// A bad input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A `--var` without `=`.
    #[error("`{0}`: expected NAME=VALUE")]
    NoEquals(String),
    /// A name that cannot be a variable (it is exported to task environments).
    #[error("invalid variable name `{0}`: a name is a letter or `_`, then letters, digits and `_`")]
    BadName(String),
    /// A variable file that cannot be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A variable file that does not parse, or is not a table of names.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A value that is not text, a number or a boolean.
    #[error("{path}: `{name}` is {kind}; a variable's value is a string, a number or a boolean")]
    NotScalar {
        /// The file.
        path: String,
        /// The variable.
        name: String,
        /// What it is instead.
        kind: &'static str,
    },
}

fn check_name(name: &str) -> Result<(), InputError> {
    if valid_env_name(name) {
        Ok(())
    } else {
        Err(InputError::BadName(name.to_owned()))
    }
}

/// Parses `--var NAME=VALUE` (the value is everything after the first `=`, and may be empty).
///
/// # Errors
/// No `=`, or a name that cannot be a variable.
pub fn parse_var(arg: &str) -> Result<(String, String), InputError> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| InputError::NoEquals(arg.to_owned()))?;
    check_name(name)?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Reads a variable file: a TOML table (`NAME = "value"`) or a JSON object (`{"NAME":
/// "value"}`) of names to strings, numbers or booleans, in file order. The format is the
/// extension's (`.toml`, `.json`); any other name is read as JSON if it starts with `{`, else as
/// TOML.
///
/// ```
/// use actuator::orchestrate::inputs::read_var_file;
///
/// let dir = tempfile::tempdir().unwrap();
/// let file = dir.path().join("prod.toml");
/// std::fs::write(&file, "REGION = \"eu-west-2\"\nINSTANCES = 3\n").unwrap();
/// assert_eq!(
///     read_var_file(&file).unwrap(),
///     [("REGION".to_string(), "eu-west-2".to_string()), ("INSTANCES".to_string(), "3".to_string())]
/// );
/// ```
///
/// # Errors
/// The file cannot be read or parsed, a name cannot be a variable, or a value is a list, a
/// table or null; each error names the file (and the variable).
pub fn read_var_file(path: &Path) -> Result<Vec<(String, String)>, InputError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| InputError::Read {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    let parse_error = |message: String| InputError::Parse {
        path: shown.clone(),
        message,
    };
    let json = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => true,
        Some("toml") => false,
        _ => text.trim_start().starts_with('{'),
    };
    // Both formats become JSON values; TOML's own types map onto them one to one here.
    let value: serde_json::Value = if json {
        serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()))?
    } else {
        let table: toml::Table = toml::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
        serde_json::to_value(table).map_err(|e| parse_error(e.to_string()))?
    };
    let serde_json::Value::Object(map) = value else {
        return Err(parse_error(
            "expected a table of variable names to values".into(),
        ));
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, v) in map {
        check_name(&name)?;
        use serde_json::Value as J;
        let value = match v {
            J::String(s) => s,
            J::Number(n) => n.to_string(),
            J::Bool(b) => b.to_string(),
            other => {
                return Err(InputError::NotScalar {
                    path: shown.clone(),
                    name,
                    kind: match other {
                        J::Null => "null",
                        J::Array(_) => "a list",
                        _ => "a table",
                    },
                });
            }
        };
        out.push((name, value));
    }
    Ok(out)
}

/// The inputs among this process's environment variables (`ACTUATOR_VAR_NAME=value` gives
/// `NAME`), sorted by name. Variables whose name or value is not Unicode are left out.
pub fn from_env() -> Vec<(String, String)> {
    from_env_vars(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    )
}

/// The inputs among `vars` (name, value pairs as in the environment), sorted by name; names
/// that cannot be variables are left out.
pub fn from_env_vars<K: AsRef<str>, V: Into<String>>(
    vars: impl IntoIterator<Item = (K, V)>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vars
        .into_iter()
        .filter_map(|(k, v)| {
            let name = k.as_ref().strip_prefix(ENV_PREFIX)?;
            valid_env_name(name).then(|| (name.to_owned(), v.into()))
        })
        .collect();
    out.sort();
    out
}

impl ActuatorOrchestration {
    /// Gives the namespace variable `name` the value `value` on the namespace's root: an
    /// `extern { NAME }` variable's value, or a new value for one the namespace declares (a
    /// variable the model declares secret stays secret). Given before or after
    /// [`Self::namespace`].
    ///
    /// ```
    /// use actuator::prelude::*;
    /// use actuator::orchestrate::ActuatorOrchestration;
    ///
    /// namespace! {
    ///     struct Site {
    ///         extern { REGION }
    ///         vars { ZONE = "!{REGION}a" }
    ///         web: Role = Role::new("web").host_ref("127.0.0.1"),
    ///     }
    /// }
    ///
    /// let ns = Site::instance("site");
    /// let mut orch = ActuatorOrchestration::new("doc-inputs")
    ///     .var("REGION", "eu-west-2")
    ///     .namespace(&ns)
    ///     .memory_state();
    /// assert_eq!(ns.var_value(&ns.root().web, "ZONE").unwrap(), "eu-west-2a");
    /// ```
    pub fn var(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set_input(Var::new(name, value.into()));
        self
    }

    /// [`Self::var`] for each pair, in order (a later one of the same name wins).
    pub fn vars<K: AsRef<str>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (k, v) in vars {
            self.set_input(Var::new(k.as_ref(), v.into()));
        }
        self
    }

    /// Gives the namespace variable `name` a secret value: exported to task environments and
    /// expanded into what tasks run, shown as `***` everywhere else (reports, plans, events,
    /// errors, logs) and never written to the state.
    pub fn secret_var(mut self, name: &str, value: Secret) -> Self {
        self.set_input(Var::secret(name, value));
        self
    }

    /// Puts an input on the namespace's root (or keeps it until there is a namespace).
    pub(super) fn set_input(&mut self, mut v: Var) {
        let (Some(w), Some(root)) = (&self.world, self.ns_root) else {
            self.pending_inputs.push(v);
            return;
        };
        if let Some((declared, _)) = find_var(w, root, &v.name)
            && declared.is_secret()
            && let crate::namespace::VarValue::Str(s) = &v.value
        {
            v = Var::secret(&v.name, Secret::new(s.clone()));
        }
        crate::namespace::add_var(w, root, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_var_keeps_everything_after_the_first_equals() {
        assert_eq!(parse_var("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert_eq!(parse_var("A=").unwrap(), ("A".into(), String::new()));
        assert_eq!(
            parse_var("=x").unwrap_err(),
            InputError::BadName(String::new())
        );
        assert_eq!(
            parse_var("A-B=x").unwrap_err().to_string(),
            "invalid variable name `A-B`: a name is a letter or `_`, then letters, digits and `_`"
        );
        assert_eq!(
            parse_var("nothing").unwrap_err().to_string(),
            "`nothing`: expected NAME=VALUE"
        );
    }

    #[test]
    fn var_files_in_json_and_toml_and_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let json = write("v.json", r#"{"B": "two words", "A": 1.5, "C": true}"#);
        assert_eq!(
            read_var_file(&json).unwrap(),
            [
                ("B".to_string(), "two words".to_string()),
                ("A".to_string(), "1.5".to_string()),
                ("C".to_string(), "true".to_string())
            ]
        );
        let sniffed = write("vars", "{\"X\": \"1\"}");
        assert_eq!(read_var_file(&sniffed).unwrap(), [("X".into(), "1".into())]);
        let toml = write("v.tfvars", "X = \"it's\"\nY = 2\n");
        assert_eq!(
            read_var_file(&toml).unwrap(),
            [("X".into(), "it's".into()), ("Y".into(), "2".into())]
        );
        let nested = write("n.toml", "[T]\nX = 1\n");
        assert_eq!(
            read_var_file(&nested).unwrap_err().to_string(),
            format!(
                "{}: `T` is a table; a variable's value is a string, a number or a boolean",
                nested.display()
            )
        );
        let list = write("l.json", r#"{"L": [1]}"#);
        assert!(matches!(
            read_var_file(&list).unwrap_err(),
            InputError::NotScalar { kind: "a list", .. }
        ));
        let bad = write("b.json", "{");
        assert!(matches!(
            read_var_file(&bad).unwrap_err(),
            InputError::Parse { .. }
        ));
        let not_table = write("a.json", "[1]");
        assert!(
            read_var_file(&not_table)
                .unwrap_err()
                .to_string()
                .ends_with("expected a table of variable names to values")
        );
        let bad_name = write("c.toml", "\"NO-DASH\" = 1\n");
        assert_eq!(
            read_var_file(&bad_name).unwrap_err(),
            InputError::BadName("NO-DASH".into())
        );
        let missing = dir.path().join("missing.toml");
        assert!(
            read_var_file(&missing)
                .unwrap_err()
                .to_string()
                .starts_with(&format!("cannot read {}: ", missing.display()))
        );
    }

    #[test]
    fn environment_inputs_need_the_prefix_and_a_valid_name() {
        let env = [
            ("ACTUATOR_VAR_B", "2"),
            ("ACTUATOR_VAR_A", "1"),
            ("ACTUATOR_VAR_", "empty name"),
            ("ACTUATOR_VAR_X-Y", "bad name"),
            ("ACTUATOR_VARIABLE", "no"),
            ("PATH", "/bin"),
        ];
        assert_eq!(
            from_env_vars(env),
            [("A".into(), "1".into()), ("B".into(), "2".into())]
        );
    }
}
