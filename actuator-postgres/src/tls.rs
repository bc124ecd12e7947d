//! TLS for the connections: rustls with the aws-lc-rs provider chosen explicitly for this
//! connector. Nothing here installs a process-wide default provider, so a binary that links
//! other rustls users (the AWS SDK, an HTTP client built with `ring`) never meets rustls' "no
//! default / two defaults" panic because of this crate.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A connector that trusts the CA certificates in `root_cert` (PEM; `system` or none: the
/// system's trust store). Server certificates are always verified, host name included.
pub(crate) fn connector(root_cert: Option<&Path>) -> Result<MakeRustlsConnect, String> {
    let roots = match root_cert {
        Some(p) if p != Path::new("system") => {
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(p)
                .map_err(|e| format!("sslrootcert {}: {e}", p.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("sslrootcert {}: {e}", p.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: {e}", p.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("sslrootcert {} holds no certificate", p.display()));
            }
            Arc::new(roots)
        }
        _ => system_roots(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The system's trust store, read once per process.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::debug!("no system CA certificates found; TLS needs sslrootcert");
            }
            Arc::new(roots)
        })
        .clone()
}
