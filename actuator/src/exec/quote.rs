//! POSIX shell quoting for building remote command lines.

use crate::exec::InvalidEnvName;
use crate::exec::support::valid_env_name;

/// Quotes `s` as one POSIX shell word, with single quotes.
///
/// The result is always quoted (`''` for the empty string); a `'` inside
/// becomes `'\''`. Every other byte is literal between single quotes, so `$`,
/// backticks, `\`, `;`, newlines and non-ASCII text pass through unchanged.
/// A NUL byte cannot be passed through any shell word, so `s` must not
/// contain one.
///
/// ```
/// use actuator::exec::shell_quote;
///
/// assert_eq!(shell_quote("abc"), "'abc'");
/// assert_eq!(shell_quote(""), "''");
/// assert_eq!(shell_quote("it's $(id)"), r"'it'\''s $(id)'");
///
/// let out = std::process::Command::new("sh")
///     .arg("-c")
///     .arg(format!("printf %s {}", shell_quote("a'b `x` $HOME;\n")))
///     .output()
///     .unwrap();
/// assert_eq!(String::from_utf8(out.stdout).unwrap(), "a'b `x` $HOME;\n");
/// ```
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str(r"'\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Builds `export K='v' K2='v2'` for `env`, quoting every value with
/// [`shell_quote`].
///
/// Returns an empty string for an empty `env` (a bare `export` would list
/// the whole environment), so join it to a command only when non-empty.
/// A name that is not `[A-Za-z_][A-Za-z0-9_]*` is refused, since it could
/// not be exported without being interpreted by the shell.
///
/// ```
/// use actuator::exec::export_line;
///
/// let env = vec![("USER_NAME".to_string(), "O'Brien".to_string()), ("N".to_string(), "$(id)".to_string())];
/// let line = export_line(&env).unwrap();
/// assert_eq!(line, r"export USER_NAME='O'\''Brien' N='$(id)'");
///
/// let script = format!(r#"{line}; printf '%s|%s' "$USER_NAME" "$N""#);
/// let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
/// assert_eq!(String::from_utf8(out.stdout).unwrap(), "O'Brien|$(id)");
///
/// assert_eq!(export_line(&[]).unwrap(), "");
/// ```
pub fn export_line(env: &[(String, String)]) -> Result<String, InvalidEnvName> {
    let mut line = String::new();
    for (name, value) in env {
        if !valid_env_name(name) {
            return Err(InvalidEnvName(name.clone()));
        }
        line.push_str(if line.is_empty() { "export " } else { " " });
        line.push_str(name);
        line.push('=');
        line.push_str(&shell_quote(value));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs `sh -c script` and returns its stdout as raw bytes.
    fn sh(script: &str) -> Vec<u8> {
        let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
        assert!(
            out.status.success(),
            "sh failed for {script:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn round_trip(x: &str) {
        let printed = sh(&format!("printf %s {}", shell_quote(x)));
        assert_eq!(
            printed,
            x.as_bytes(),
            "round trip of {x:?} via {:?}",
            shell_quote(x)
        );
    }

    const HOSTILE: &[&str] = &[
        "",
        "'",
        "''",
        r"'\''",
        "\"",
        "$(id)",
        "`id`",
        "$HOME",
        "${HOME:-x}",
        "; rm -rf /",
        "a\nb\n",
        "\n",
        "\\",
        "\\'",
        "-n",
        "--",
        "%s%d%%",
        "* ? [a-z] ~",
        "a && b || c | d & e",
        "#comment",
        "!!",
        "é日本🦀\u{202e}",
        "tab\there",
        "\r\n",
        "x'; touch /tmp/pwned; echo '",
    ];

    #[test]
    fn shell_quote_exact_forms() {
        assert_eq!(shell_quote("abc"), "'abc'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("'"), r"''\'''");
        assert_eq!(shell_quote("a b"), "'a b'");
    }

    #[test]
    fn shell_quote_round_trips_hostile_strings() {
        for x in HOSTILE {
            round_trip(x);
        }
    }

    /// Small deterministic property test: random strings over a hostile
    /// alphabet must print back exactly through `sh -c "printf %s …"`.
    #[test]
    fn shell_quote_round_trips_random_hostile_strings() {
        const ALPHABET: &[&str] = &[
            "'", "\"", "$", "(", ")", "`", "\\", "\n", ";", "&", "|", " ", "\t", "*", "?", "~",
            "#", "!", "{", "}", "%", "<", ">", "=", "-", "a", "Z", "0", "é", "日本", "🦀",
            "\u{202e}", "$(", "'\\''", "\r",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        for _ in 0..300 {
            let len = (next() % 24) as usize;
            let x: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            round_trip(&x);
        }
    }

    #[test]
    fn export_line_round_trips_hostile_values() {
        for x in HOSTILE {
            let env = vec![
                ("A".to_string(), x.to_string()),
                ("_B2".to_string(), format!("{x}{x}")),
            ];
            let line = export_line(&env).unwrap();
            let printed = sh(&format!(r#"{line}; printf '%s|%s' "$A" "$_B2""#));
            assert_eq!(printed, format!("{x}|{x}{x}").as_bytes(), "line {line:?}");
        }
    }

    #[test]
    fn export_line_is_exported_to_children() {
        let line = export_line(&[("FOO".into(), "v'1".into())]).unwrap();
        let printed = sh(&format!(r#"{line}; sh -c 'printf %s "$FOO"'"#));
        assert_eq!(printed, b"v'1");
    }

    #[test]
    fn export_line_of_nothing_is_empty() {
        assert_eq!(export_line(&[]).unwrap(), "");
    }

    #[test]
    fn export_line_rejects_unsafe_names() {
        for bad in ["", "1X", "A B", "X;rm", "X=Y", "$(id)", "É", "A-B"] {
            let err =
                export_line(&[("OK".into(), "1".into()), (bad.into(), "v".into())]).unwrap_err();
            assert_eq!(err, InvalidEnvName(bad.to_string()));
        }
    }
}
