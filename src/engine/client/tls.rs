//! TLS for the lean client: rustls driven by hand over the lean client's own socket, so every
//! socket read still goes through [`rxstamp`] and keeps its kernel receive stamp.
//!
//! Why not a TLS stream wrapper: a wrapper reads the socket inside its own `poll_read`, where
//! the receive stamp of each read is lost. Here the raw bytes of one stamped read are handed
//! to rustls whole, and the plaintext that comes out of the records they complete is given
//! that read's stamp: a token's time under TLS is the arrival of the last segment of the TLS
//! record that carried it (docs/metrics.md, "Where the instants come from").
//!
//! It speaks HTTP/1.1 only (offered by ALPN; a server that picks anything else is a TLS error)
//! and never panics on server bytes. It uses the same rustls, crypto provider (aws-lc-rs) and
//! certificate verification as the reqwest client: the system's trust store
//! (`rustls-platform-verifier`) plus the target's `tls.ca_bundle`.

use std::io::{self, Read as _, Write as _};
use std::sync::Arc;

use bytes::BytesMut;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::engine::rxstamp;

/// The protocol offered by ALPN: the lean client reads HTTP/1.1 only.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The lean client's TLS settings for one target, built once.
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings").finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// Server roots: the system's trust store plus the PEM certificates in `ca_pem`;
    /// `insecure` accepts any certificate (signatures are still checked).
    pub fn new(ca_pem: Option<&[u8]>, insecure: bool) -> Result<TlsSettings, String> {
        use rustls::pki_types::pem::PemObject as _;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut extra = Vec::new();
        if let Some(pem) = ca_pem {
            for cert in CertificateDer::pem_slice_iter(pem) {
                extra.push(cert.map_err(|e| format!("tls.ca_bundle: not PEM: {e}"))?);
            }
            if extra.is_empty() {
                return Err("tls.ca_bundle: no certificate in the file".into());
            }
        }
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let verifier =
                rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
                    .map_err(|e| format!("tls: no certificate to trust: {e}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        };
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        let settings = TlsSettings {
            config: Arc::new(config),
        };
        settings.warm();
        Ok(settings)
    }

    /// Pays the crypto library's one-time start-up here, before any request is timed. aws-lc
    /// seeds its random generator on first use, which takes tens of milliseconds (38 ms
    /// measured on a 2-core VM); inside the first handshake it would stall the thread, so the
    /// first connection's handshake and every connection opened beside it would carry that
    /// delay in `tls_handshake_us` and `connect_us`. Opening one connection object (key shares
    /// generated, nothing sent) does it.
    fn warm(&self) {
        let _ = self.connection("localhost");
    }

    /// A connection to `host` (a name or an IP address), not yet shaken hands.
    fn connection(&self, host: &str) -> io::Result<ClientConnection> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        ClientConnection::new(self.config.clone(), name).map_err(io::Error::other)
    }
}

/// `tls.insecure`: every certificate is accepted; handshake signatures are still verified with
/// the provider's algorithms, so the connection is encrypted, just not authenticated.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Why a TLS connection failed: the handshake (certificate, protocol, ALPN) or its socket.
#[derive(Debug)]
pub enum TlsFailure {
    /// The TLS layer refused (certificate, alert, protocol, ALPN): a `tls` outcome.
    Tls(String),
    /// The socket failed or closed.
    Io(io::Error),
}

/// One TLS connection over the lean client's own socket.
pub struct TlsStream {
    tcp: TcpStream,
    conn: ClientConnection,
    /// Raw bytes of the latest socket read, before rustls takes them.
    raw: BytesMut,
    /// The peer sent close_notify.
    closed: bool,
}

impl TlsStream {
    /// Shakes hands over `tcp` (which should already have stamping enabled) with `host`.
    pub async fn handshake(
        settings: &TlsSettings,
        tcp: TcpStream,
        host: &str,
    ) -> Result<TlsStream, TlsFailure> {
        let conn = settings
            .connection(host)
            .map_err(|e| TlsFailure::Tls(format!("server name `{host}`: {e}")))?;
        let mut s = TlsStream {
            tcp,
            conn,
            raw: BytesMut::with_capacity(16 * 1024),
            closed: false,
        };
        let mut sink = BytesMut::new();
        loop {
            s.flush().await.map_err(TlsFailure::Io)?;
            if !s.conn.is_handshaking() {
                break;
            }
            s.raw.clear();
            let r = rxstamp::read(&s.tcp, &mut s.raw, Instant::now())
                .await
                .map_err(TlsFailure::Io)?;
            if r.n == 0 {
                return Err(TlsFailure::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection during the TLS handshake",
                )));
            }
            s.feed(&mut sink)?;
        }
        match s.conn.alpn_protocol() {
            None | Some(ALPN_HTTP1) => Ok(s),
            Some(p) => Err(TlsFailure::Tls(format!(
                "the server chose ALPN `{}`; the lean client speaks http/1.1 only",
                String::from_utf8_lossy(p)
            ))),
        }
    }

    /// Writes what rustls has queued for the socket.
    async fn flush(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut out)?;
        }
        if !out.is_empty() {
            self.tcp.write_all(&out).await?;
        }
        Ok(())
    }

    /// Encrypts and sends `data`.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(data)?;
        self.flush().await
    }

    /// Hands the raw bytes of the latest read to rustls and appends the plaintext of every
    /// record they complete to `out`; returns its length.
    fn feed(&mut self, out: &mut BytesMut) -> Result<usize, TlsFailure> {
        let mut src = &self.raw[..];
        let mut total = 0;
        while !src.is_empty() {
            self.conn.read_tls(&mut src).map_err(TlsFailure::Io)?;
            let state = self
                .conn
                .process_new_packets()
                .map_err(|e| TlsFailure::Tls(e.to_string()))?;
            let n = state.plaintext_bytes_to_read();
            if state.peer_has_closed() {
                self.closed = true;
            }
            if n > 0 {
                let at = out.len();
                out.resize(at + n, 0);
                self.conn
                    .reader()
                    .read_exact(&mut out[at..])
                    .map_err(TlsFailure::Io)?;
                total += n;
            }
        }
        Ok(total)
    }

    /// Reads until some plaintext (or the end of the connection) comes, appending it to `out`.
    /// The stamp is that of the socket read whose bytes completed the record(s) the plaintext
    /// came in: earlier reads that only brought part of a record give no plaintext.
    pub async fn read(
        &mut self,
        out: &mut BytesMut,
        not_before: Instant,
    ) -> io::Result<rxstamp::Read> {
        loop {
            if self.closed {
                return Ok(rxstamp::Read { n: 0, at: None });
            }
            self.raw.clear();
            let r = rxstamp::read(&self.tcp, &mut self.raw, not_before).await?;
            if r.n == 0 {
                return Ok(r);
            }
            let n = self.feed(out).map_err(|e| match e {
                TlsFailure::Io(e) => e,
                TlsFailure::Tls(m) => {
                    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {m}"))
                }
            })?;
            if n > 0 {
                return Ok(rxstamp::Read { n, at: r.at });
            }
        }
    }
}
