//! The check every cloud makes of an OpenSSH public key before importing it (AWS key pairs,
//! OpenStack key pairs, Azure VM administrators): written once, so a key one cloud accepts is not
//! refused by another for a different reading of the same format.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The type of an OpenSSH public key line — `<type> <base64 blob> [comment]`, as a `.pub` file
/// holds it — after checking that the blob decodes and names the same type (a truncated or
/// mis-pasted key fails here, not at the cloud's import call). Each cloud then says which types
/// it takes.
///
/// # Errors
/// A message showing the start of the line (a public key is not a secret, but a long one is cut).
///
/// ```
/// use actuator::provision::openssh_key_type;
/// let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host";
/// assert_eq!(openssh_key_type(line), Ok("ssh-ed25519"));
/// assert!(openssh_key_type("ssh-ed25519 AAAAC3Nz").is_err()); // cut short
/// assert!(openssh_key_type("-----BEGIN OPENSSH PRIVATE KEY-----").is_err());
/// ```
pub fn openssh_key_type(line: &str) -> Result<&str, String> {
    let mut words = line.split_whitespace();
    let (kind, blob) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let shown: String = line.trim().chars().take(32).collect();
    let refused = |why: &str| {
        Err(format!(
            "{shown:?}…: not an OpenSSH public key ({why}; expected `ssh-ed25519 AAAA… comment` as \
             in a .pub file)"
        ))
    };
    if !(kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-")) {
        return refused("no key type first");
    }
    let Ok(bytes) = STANDARD.decode(blob) else {
        return refused("the key data is not base64");
    };
    // The blob starts with the type again, as a length-prefixed string (RFC 4253 §6.6).
    let named = bytes
        .get(..4)
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
        .and_then(|n| bytes.get(4..4 + n));
    if named != Some(kind.as_bytes()) {
        return refused("the key data does not match its type");
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::openssh_key_type;

    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 x";

    #[test]
    fn a_key_whose_data_names_another_type_is_refused() {
        let ed = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        let e = openssh_key_type(&format!("ssh-rsa {ed}")).unwrap_err();
        assert!(e.contains("does not match its type"), "{e}");
        assert_eq!(openssh_key_type(RSA), Ok("ssh-rsa"));
        assert_eq!(
            openssh_key_type(&format!("ssh-ed25519 {ed}")),
            Ok("ssh-ed25519")
        );
    }

    #[test]
    fn a_long_line_is_shown_cut() {
        let e = openssh_key_type(&"x".repeat(500)).unwrap_err();
        assert!(e.len() < 200, "{e}");
    }
}
