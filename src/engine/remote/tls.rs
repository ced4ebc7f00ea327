//! How the HTTP client trusts an agent's certificate over `https://` ([`Trust`]): the
//! system's roots (the default), a CA file of the server profile (`--ca FILE`, kept as its
//! PEM text), or a pinned SHA-256 fingerprint of the agent's own certificate
//! (`--fingerprint`, e.g. the one `devsky serve tls init` printed; the certificate's
//! names, issuer and dates are then not looked at, only that it is that certificate and
//! that the server holds its key).
//!
//! A certificate that does not pass fails the TLS handshake: no request, and so no key,
//! is ever sent to it.

use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::Digest;
use subtle::ConstantTimeEq;

/// How to trust the agent's certificate (only for `https://`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// PEM certificates of the CA(s) to trust instead of the system's roots.
    pub ca_pem: Option<String>,
    /// The SHA-256 fingerprint of the agent's certificate, as [`fingerprint`] writes it.
    pub fingerprint: Option<String>,
}

/// The SHA-256 fingerprint of a certificate (DER), as `openssl x509 -fingerprint -sha256`
/// shows it: `AB:CD:...`.
pub fn fingerprint(der: &[u8]) -> String {
    hex_colons(&sha2::Sha256::digest(der))
}

fn hex_colons(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A fingerprint as given by a person (`AB:CD:..`, `abcd..`, with `sha256:` or `SHA256=`
/// before it or not) in the form of [`fingerprint`].
pub fn parse_fingerprint(s: &str) -> anyhow::Result<String> {
    let t = s.trim();
    let t = ["sha256:", "sha256=", "sha256 fingerprint="]
        .iter()
        .find_map(|p| {
            t.get(..p.len())
                .filter(|h| h.eq_ignore_ascii_case(p))
                .map(|_| &t[p.len()..])
        })
        .unwrap_or(t);
    let hex: String = t.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "{s:?} is not a SHA-256 fingerprint: 32 bytes in hex, like AB:CD:... (what \
             `devsky serve tls init` printed)"
        );
    }
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    Ok(hex_colons(&bytes))
}

/// Check that `pem` holds at least one certificate (what `--ca FILE` must be).
pub fn check_ca(pem: &str) -> anyhow::Result<()> {
    let n = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        .context("not a PEM certificate file")?
        .len();
    if n == 0 {
        bail!("no PEM certificate in it");
    }
    Ok(())
}

/// The HTTP client builder for an agent at `url` trusted as `trust` says.
pub fn client_builder(
    url: &str,
    trust: &Trust,
) -> anyhow::Result<reqwest::blocking::ClientBuilder> {
    let b = reqwest::blocking::Client::builder();
    let https = url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if !https {
        if trust.ca_pem.is_some() || trust.fingerprint.is_some() {
            bail!("{url}: a CA or a fingerprint is only for an https:// agent");
        }
        return Ok(b);
    }
    match (&trust.fingerprint, &trust.ca_pem) {
        (Some(_), Some(_)) => bail!("give a CA or a fingerprint, not both"),
        (Some(fp), None) => Ok(b.use_preconfigured_tls(pinned_config(fp)?)),
        (None, Some(pem)) => {
            let mut b = b.tls_built_in_root_certs(false);
            for c in reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .context("the server's CA is not a PEM certificate file")?
            {
                b = b.add_root_certificate(c);
            }
            Ok(b)
        }
        // reqwest's rustls with the system's roots.
        (None, None) => Ok(b),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS client setup that accepts only the certificate with fingerprint `fp`.
fn pinned_config(fp: &str) -> anyhow::Result<rustls::ClientConfig> {
    pinned_config_with(fp, rustls::DEFAULT_VERSIONS)
}

fn pinned_config_with(
    fp: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> anyhow::Result<rustls::ClientConfig> {
    let want = parse_fingerprint(fp)?;
    let provider = provider();
    let verifier = Pinned {
        want,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(c)
}

/// Accepts the one certificate of the pinned fingerprint; the handshake's signatures are
/// still checked against it, so the server must hold its key.
#[derive(Debug)]
struct Pinned {
    want: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity);
        if bool::from(got.as_bytes().ct_eq(self.want.as_bytes())) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the agent's certificate has the SHA-256 fingerprint {got}, not the pinned {}",
                self.want
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A TLS client setup for FTPS: the certificate trusted as `trust` says (a pinned
/// fingerprint, a CA, or the system's roots), no ALPN, TLS 1.2 (its sessions resume any
/// number of times: FTP servers demand that every data connection resume the control
/// connection's session, which TLS 1.3's single-use tickets cannot promise).
pub fn rustls_config(trust: &Trust) -> anyhow::Result<rustls::ClientConfig> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    match (&trust.fingerprint, &trust.ca_pem) {
        (Some(_), Some(_)) => bail!("give a CA or a fingerprint, not both"),
        (Some(fp), None) => {
            let mut c = pinned_config_with(fp, versions)?;
            c.alpn_protocols.clear();
            Ok(c)
        }
        (None, ca) => {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            match ca {
                Some(pem) => {
                    for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                        roots
                            .add(c.context("the server's CA is not a PEM certificate file")?)
                            .context("the server's CA is refused")?;
                    }
                }
                None => {
                    for c in rustls_native_certs::load_native_certs().certs {
                        let _ = roots.add(c);
                    }
                }
            }
            Ok(rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_in_the_usual_spellings() {
        let canon = fingerprint(b"x");
        assert_eq!(canon.len(), 32 * 3 - 1);
        let plain: String = canon.chars().filter(|c| *c != ':').collect();
        for s in [
            canon.clone(),
            canon.to_lowercase(),
            plain.clone(),
            format!("sha256:{plain}"),
            format!("SHA256 Fingerprint={canon}"),
        ] {
            assert_eq!(parse_fingerprint(&s).unwrap(), canon, "{s}");
        }
        for bad in ["", "AB:CD", &plain[1..], &format!("{}zz", &plain[2..])] {
            assert!(parse_fingerprint(bad).is_err(), "{bad}");
        }
    }
}
