//! HTTPS for `devsky serve`: `--tls-cert FILE --tls-key FILE` (PEM) serve the router over
//! TLS (rustls with the `ring` provider; TLS 1.2 and 1.3; HTTP/1.1), and `devsky serve tls
//! init` makes a self-signed certificate for a quick start, whose SHA-256 fingerprint a
//! client pins (`devsky server add --fingerprint`, [`crate::engine::remote::tls`]).
//!
//! The handshake of each connection runs on its own task, with a time limit, so a slow or
//! broken client holds up no one; a failed handshake is logged and no request of that
//! connection ever reaches the router (nor its key check).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::ConnectInfo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::engine::remote::tls::fingerprint;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(15);

/// The TLS setup of a certificate chain and its key, both PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("--tls-cert {}: not a PEM certificate file", cert.display()))?;
    if certs.is_empty() {
        bail!("--tls-cert {}: no certificate in it", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("--tls-key {}: not a PEM private key file", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the TLS certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The SHA-256 fingerprint of the first certificate of a PEM file.
pub fn fingerprint_of_file(cert: &Path) -> anyhow::Result<String> {
    let der = CertificateDer::from_pem_file(cert)
        .with_context(|| format!("{}: not a PEM certificate file", cert.display()))?;
    Ok(fingerprint(&der))
}

/// Serve `app` over TLS on `listener` until the process is stopped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    app: Router,
) -> anyhow::Result<()> {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            // Out of descriptors, say: wait a little rather than spin.
            Err(e) => {
                eprintln!("devsky serve: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (tls, app) = (tls.clone(), app.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE, tls.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    eprintln!("devsky serve: TLS handshake with {peer} failed: {e}");
                    return;
                }
                Err(_) => {
                    eprintln!("devsky serve: TLS handshake with {peer} timed out");
                    return;
                }
            };
            // The client's address for the key check's rate limit, as `axum::serve` gives it.
            let app = app.layer(axum::Extension(ConnectInfo::<SocketAddr>(peer)));
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// What `devsky serve tls init` made.
pub struct Made {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub fingerprint: String,
}

/// Make a self-signed certificate for `names` (host names or IP addresses) in `dir`
/// (`cert.pem`, and `key.pem` with mode 0600). Existing files are kept unless `force`.
pub fn init(dir: &Path, names: &[String], force: bool) -> anyhow::Result<Made> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !force && (cert.exists() || key.exists()) {
        bail!(
            "{} already exists (SHA-256 fingerprint {}); --force makes a new one (clients \
             that pinned the old one will refuse the new one)",
            cert.display(),
            fingerprint_of_file(&cert).unwrap_or_else(|e| format!("unreadable: {e:#}"))
        );
    }
    let mut all = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    all.extend(names.iter().cloned());
    all.dedup();
    let made = rcgen::generate_simple_self_signed(all)
        .map_err(|e| anyhow::anyhow!("cannot make the certificate: {e}"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let write = |path: &Path, text: &str, mode: u32| -> anyhow::Result<()> {
        let tmp = path.with_extension("pem.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    };
    write(&key, &made.signing_key.serialize_pem(), 0o600)?;
    write(&cert, &made.cert.pem(), 0o644)?;
    Ok(Made {
        cert,
        key,
        fingerprint: fingerprint(made.cert.der()),
    })
}
