//! TLS for the mock server: a certificate and key from PEM files, or a self-signed
//! certificate made at start (for tests and benches; its PEM can be written out for the client
//! to trust through `tls.ca_bundle`).
//!
//! The handshake runs in its own task per connection, so a slow or silent client cannot hold
//! up the accept loop; a connection whose handshake fails is dropped.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// The mock's TLS settings.
#[derive(Clone)]
pub struct MockTls {
    pub(crate) config: Arc<ServerConfig>,
    /// The server certificate chain, PEM.
    pub cert_pem: String,
}

impl std::fmt::Debug for MockTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("MockTls").finish_non_exhaustive()
    }
}

impl MockTls {
    /// From a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<MockTls, String> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("certificate: not PEM: {e}"))?;
        if chain.is_empty() {
            return Err("certificate: no certificate in the file".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| format!("key: not a PEM private key: {e}"))?;
        let text = String::from_utf8_lossy(cert_pem).into_owned();
        MockTls::build(chain, key, text)
    }

    /// A self-signed certificate for `localhost`, `127.0.0.1` and `::1`, made now.
    pub fn self_signed() -> Result<MockTls, String> {
        let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| format!("making a self-signed certificate: {e}"))?;
        let cert_pem = made.cert.pem();
        let key = PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
        MockTls::build(vec![made.cert.der().clone()], key, cert_pem)
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cert_pem: String,
    ) -> Result<MockTls, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // aws-lc seeds its random generator on first use (tens of milliseconds): done here,
        // at start-up, rather than inside the first handshake a client times.
        provider
            .secure_random
            .fill(&mut [0u8; 32])
            .map_err(|_| "TLS set-up: no random numbers from the system".to_string())?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("certificate and key: {e}"))?;
        // HTTP/1.1 and HTTP/2 are both served (the server tells them apart by the preface);
        // HTTP/1.1 is preferred when a client offers both.
        config.alpn_protocols = vec![b"http/1.1".to_vec(), b"h2".to_vec()];
        Ok(MockTls {
            config: Arc::new(config),
            cert_pem,
        })
    }

    /// The same certificate with only these ALPN protocols offered (e.g. `h2` alone, to see
    /// how a client that speaks only HTTP/1.1 fails).
    pub fn with_alpn(mut self, protocols: &[&[u8]]) -> MockTls {
        let mut config = (*self.config).clone();
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        self.config = Arc::new(config);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_round_trips_through_pem() {
        let t = MockTls::self_signed().expect("made");
        assert!(t.cert_pem.contains("-----BEGIN CERTIFICATE-----"));
        let chain = CertificateDer::pem_slice_iter(t.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM");
        assert_eq!(chain.len(), 1);
        assert!(MockTls::from_pem(t.cert_pem.as_bytes(), b"not a key").is_err());
        assert!(MockTls::from_pem(b"nothing", b"nothing").is_err());
    }
}
