//! [`Secret`]: passwords, API keys and private key material that must never be
//! printed, logged or persisted.

use std::fmt;

use serde::Deserialize;

/// A secret string (password, access key, private key material).
///
/// `Debug` and `Display` print `***`, so a secret inside a struct that derives
/// `Debug` never reaches a log line or an error message. The value is only
/// reachable through [`Secret::expose`], which makes every use greppable.
///
/// `Secret` deliberately does **not** implement `Serialize`: the state journal
/// and the JSON event stream are built with `serde`, so a resource that holds a
/// `Secret` cannot be written to a state file or an event by accident — it is a
/// compile error, and the author has to mark the field `#[serde(skip)]` (and
/// supply it again from configuration when the state is loaded). It does
/// implement `Deserialize`, so credentials can be read from configuration.
///
/// ```
/// use actuator::secret::Secret;
///
/// #[derive(Debug)]
/// struct Login { user: String, password: Secret }
///
/// let login = Login { user: "admin".into(), password: Secret::new("hunter2") };
/// assert_eq!(login.password.expose(), "hunter2");
/// assert_eq!(format!("{login:?}"), r#"Login { user: "admin", password: *** }"#);
/// assert_eq!(login.password.to_string(), "***");
/// ```
///
/// Serializing a struct that holds a `Secret` does not compile:
///
/// ```compile_fail
/// use actuator::secret::Secret;
///
/// #[derive(serde::Serialize)]
/// struct Key { material: Secret }
/// ```
///
/// Skipping the field is the way to keep it out of serialized data:
///
/// ```
/// use actuator::secret::Secret;
///
/// #[derive(serde::Serialize)]
/// struct Key { name: String, #[serde(skip)] material: Secret }
///
/// let key = Key { name: "deploy".into(), material: Secret::new("-----BEGIN KEY-----") };
/// assert_eq!(serde_json::to_string(&key).unwrap(), r#"{"name":"deploy"}"#);
/// ```
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    ///
    /// ```
    /// let s = actuator::secret::Secret::new(String::from("s3cr3t"));
    /// assert_eq!(s.expose(), "s3cr3t");
    /// ```
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value; call it only where the value is handed to the
    /// API that needs it (an SDK call, an SSH authentication).
    ///
    /// ```
    /// let s = actuator::secret::Secret::new("s3cr3t");
    /// assert_eq!(s.expose().len(), 6);
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Masks known secret values in text: what the orchestration runs every task's output, every
/// error message and every event through before anyone sees it, as a CI system masks its
/// secrets in build logs.
///
/// It catches a secret written out as it is; a secret a task transforms (base64, reversed,
/// split across lines) is beyond it — tasks should not print secrets.
///
/// ```
/// use actuator::secret::Redactor;
///
/// let r = Redactor::default();
/// assert!(r.is_empty());
/// r.add("hunter2");
/// assert!(!r.is_empty());
/// assert_eq!(r.redact("login with hunter2 failed"), "login with *** failed");
/// assert_eq!(r.redact("nothing here"), "nothing here");
/// assert!(!format!("{r:?}").contains("hunter2"));
/// ```
#[derive(Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    values: parking_lot::RwLock<Vec<String>>,
    /// `values` is not empty: asked of every event a run emits, read without the lock.
    any: std::sync::atomic::AtomicBool,
}

impl Redactor {
    /// Masks `value` from now on (an empty value is ignored).
    pub fn add(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut v = self.values.write();
        if !v.iter().any(|x| x == value) {
            v.push(value.to_owned());
            v.sort_by_key(|x| std::cmp::Reverse(x.len()));
            self.any.store(true, std::sync::atomic::Ordering::Release);
        }
    }

    /// Whether it masks nothing.
    pub fn is_empty(&self) -> bool {
        !self.any.load(std::sync::atomic::Ordering::Acquire)
    }

    /// `text` with every known secret replaced by `***`.
    pub fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self.is_empty() {
            return std::borrow::Cow::Borrowed(text);
        }
        let values = self.values.read();
        if !values.iter().any(|v| text.contains(v.as_str())) {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = text.to_owned();
        for v in values.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "***");
            }
        }
        std::borrow::Cow::Owned(out)
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.values.read().len())
    }
}

#[cfg(test)]
mod tests {
    use super::{Redactor, Secret};

    #[test]
    fn a_secret_that_contains_another_is_masked_whole() {
        let r = Redactor::default();
        r.add("pass");
        r.add("password1");
        r.add("");
        assert_eq!(r.redact("password1 and pass"), "*** and ***");
        assert_eq!(r.redact(""), "");
    }

    #[derive(Debug)]
    #[allow(dead_code)] // fields are read only through Debug
    struct Creds {
        user: String,
        password: Secret,
        keys: Vec<Secret>,
        token: Option<Secret>,
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let c = Creds {
            user: "admin".into(),
            password: Secret::new("hunter2-pw"),
            keys: vec![Secret::new("AKIA-key-material")],
            token: Some(Secret::new("tok-123")),
        };
        for text in [
            format!("{c:?}"),
            format!("{c:#?}"),
            format!("{}", c.password),
        ] {
            for value in ["hunter2-pw", "AKIA-key-material", "tok-123"] {
                assert!(!text.contains(value), "{value} leaked in {text}");
            }
            assert!(text.contains("***"), "{text}");
        }
        assert_eq!(
            format!("{c:?}"),
            r#"Creds { user: "admin", password: ***, keys: [***], token: Some(***) }"#
        );
    }

    #[test]
    fn reads_from_config_and_compares() {
        let s: Secret = serde_json::from_str(r#""from-config""#).unwrap();
        assert_eq!(s.expose(), "from-config");
        assert_eq!(s.clone(), Secret::new("from-config"));
        assert_ne!(s, Secret::new("other"));
    }
}
