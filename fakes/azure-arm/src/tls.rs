//! The fake's own certificate authority and the server certificate both listeners present.
//!
//! `azure_identity` refuses an authority host that is not `https`, and `azure_core`'s bearer-token
//! policy refuses to put a token on a non-`https` request, so both the token endpoint and the ARM
//! endpoint speak TLS. A fresh CA is generated per fake instance (nothing to commit, nothing to
//! expire); clients trust it by adding [`crate::FakeHandle::ca_pem`] as a root certificate.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A generated CA and a loopback server certificate signed by it.
pub(crate) struct Pki {
    /// The CA certificate in PEM, for clients to trust.
    pub ca_pem: String,
    /// The rustls configuration both listeners use.
    pub server_config: Arc<ServerConfig>,
}

impl Pki {
    /// Generates a CA and a certificate for `127.0.0.1`, `::1` and `localhost`.
    pub fn generate() -> std::io::Result<Pki> {
        let ca_key = KeyPair::generate().map_err(io_err)?;
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "azure-arm-fake test CA");
        ca_params.distinguished_name = dn;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(io_err)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().map_err(io_err)?;
        let mut leaf_params = CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "::1".to_string(),
            "localhost".to_string(),
        ])
        .map_err(io_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "127.0.0.1");
        leaf_params.distinguished_name = dn;
        let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).map_err(io_err)?;

        let chain: Vec<CertificateDer<'static>> =
            vec![leaf_cert.der().clone(), ca_cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        // aws-lc-rs, the provider reqwest (azure_core's transport) and the AWS SDK already use:
        // enabling a second rustls provider feature in the workspace would make rustls unable to
        // pick a process-wide default for crates that rely on one. Passed explicitly all the same.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io_err)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(io_err)?;
        // The servers speak HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Pki {
            ca_pem: ca_cert.pem(),
            server_config: Arc::new(config),
        })
    }
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("generating the fake's TLS material: {e}"))
}
