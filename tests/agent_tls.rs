//! The HTTP agent over HTTPS with the real binary: a deploy through `devsky serve
//! --tls-cert --tls-key` trusted by a test CA (`server add --ca`), by the system's roots
//! (`SSL_CERT_FILE`), and by a pinned fingerprint of the certificate `devsky serve tls
//! init` made (checked against openssl's); a certificate of another CA or another
//! fingerprint is refused during the handshake, before any request (so any key) reaches
//! the agent; and plain HTTP is refused on an address other than loopback.

mod support;
use support::agent::{create_key, start_agent};
use support::deploy::{devsky, ok, put, text};
use support::tree::{assert_same, walk};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A test CA: its issuer and its certificate (PEM).
fn make_ca(name: &str) -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let pem = p.self_signed(&key).unwrap().pem();
    (Issuer::new(p, key), pem)
}

/// A certificate for 127.0.0.1 and localhost signed by `ca`, written as `cert.pem` and
/// `key.pem` in `dir`.
fn make_leaf(ca: &Issuer<'static, KeyPair>, dir: &Path) {
    let key = KeyPair::generate().unwrap();
    let p = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = p.signed_by(&key, ca).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

/// The request lines the agent logged (every request that reached its router).
fn requests(log: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with("devsky serve: ") && l.contains(" /api/v1/"))
        .count()
}

fn run(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_devsky"));
    c.args(args).current_dir(cwd).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// `devsky deploy plan NAME` must fail on the certificate, and the agent must have seen
/// no request meanwhile (so no key) but a failed handshake.
fn refused_before_any_request(
    project: &Path,
    name: &str,
    agent: &support::agent::Agent,
    env: &[(&str, &str)],
    why: &str,
) {
    let before = agent.log_text();
    let o = run(&["deploy", "plan", name], project, env);
    assert_ne!(o.status.code(), Some(0), "{name} was not refused");
    let err = text(&o.stderr);
    assert!(err.contains(why), "{name}: {why:?} missing from:\n{err}");
    // Wait for the agent's note of the handshake, then count requests.
    let t0 = Instant::now();
    let mut after = agent.log_text();
    while after.matches("TLS handshake with").count()
        == before.matches("TLS handshake with").count()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no handshake failure logged:\n{after}"
        );
        std::thread::sleep(Duration::from_millis(20));
        after = agent.log_text();
    }
    assert_eq!(
        requests(&after),
        requests(&before),
        "{name}: a request reached the agent:\n{after}"
    );
}

#[test]
fn https_deploy_with_a_test_ca_or_the_system_roots_and_another_ca_refused() {
    let d = tempfile::tempdir().unwrap();
    let (root, state, project) = (
        d.path().join("root"),
        d.path().join("state"),
        d.path().join("project"),
    );
    put(&root, "index.php", b"<?php echo 'old';\n");
    put(&project, "index.php", b"<?php echo 'new';\n");
    put(&project, "app/a.php", b"<?php // a\n");
    let (ca, ca_pem) = make_ca("devsky test CA");
    let (_, other_pem) = make_ca("another CA");
    let tls = d.path().join("tls");
    make_leaf(&ca, &tls);
    std::fs::write(d.path().join("ca.pem"), &ca_pem).unwrap();
    std::fs::write(d.path().join("other.pem"), &other_pem).unwrap();
    let ca_file = d.path().join("ca.pem").display().to_string();
    let other_file = d.path().join("other.pem").display().to_string();

    let key = create_key(&root, &state);
    let cert = tls.join("cert.pem").display().to_string();
    let tls_key = tls.join("key.pem").display().to_string();
    let agent = start_agent(
        &root,
        &state,
        d.path().join("agent.log"),
        &["--tls-cert", &cert, "--tls-key", &tls_key],
        &[],
    );
    assert!(agent.url.starts_with("https://127.0.0.1:"), "{}", agent.url);
    assert!(
        agent.log_text().contains("on https://"),
        "{}",
        agent.log_text()
    );

    ok(&devsky(&["init"], &project));
    let added = ok(&devsky(
        &[
            "server", "add", "good", "--url", &agent.url, "--key", &key, "--ca", &ca_file,
        ],
        &project,
    ));
    assert!(added.contains("the server's CA"), "{added}");
    ok(&devsky(&["deploy", "push", "good", "--yes"], &project));
    assert_same(&walk(&root), &walk(&project), "after the push over https");

    // Another CA: refused in the handshake; the agent saw no request.
    ok(&devsky(
        &[
            "server",
            "add",
            "other",
            "--url",
            &agent.url,
            "--key",
            &key,
            "--ca",
            &other_file,
        ],
        &project,
    ));
    refused_before_any_request(&project, "other", &agent, &[], "certificate");

    // No CA given: the system's roots, here the test CA through SSL_CERT_FILE.
    ok(&devsky(
        &["server", "add", "sys", "--url", &agent.url, "--key", &key],
        &project,
    ));
    let o = run(
        &["deploy", "plan", "sys"],
        &project,
        &[("SSL_CERT_FILE", &ca_file)],
    );
    let out = ok(&o);
    assert!(out.contains("nothing to deploy"), "{out}");
    refused_before_any_request(
        &project,
        "sys",
        &agent,
        &[("SSL_CERT_FILE", &other_file)],
        "certificate",
    );

    // --ca and --fingerprint are for https only; junk is refused with a clear error.
    let http = agent.url.replace("https://", "http://");
    let o = devsky(
        &[
            "server", "add", "x", "--url", &http, "--key", &key, "--ca", &ca_file,
        ],
        &project,
    );
    assert!(text(&o.stderr).contains("https://"), "{}", text(&o.stderr));
    let o = devsky(
        &[
            "server",
            "add",
            "y",
            "--url",
            &agent.url,
            "--key",
            &key,
            "--ca",
            "/etc/hostname",
        ],
        &project,
    );
    assert!(text(&o.stderr).contains("--ca"), "{}", text(&o.stderr));
    let log = agent.log_text();
    assert!(!log.contains(&key), "{log}");
}

#[test]
fn https_deploy_with_a_pinned_fingerprint_and_another_one_refused() {
    let d = tempfile::tempdir().unwrap();
    let (root, state, project) = (
        d.path().join("root"),
        d.path().join("state"),
        d.path().join("project"),
    );
    put(&root, "index.php", b"<?php echo 'old';\n");
    put(&project, "index.php", b"<?php echo 'new';\n");
    let key = create_key(&root, &state);

    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["serve", "tls", "init", "--root"])
        .arg(&root)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    let out = ok(&o);
    let fp = out
        .lines()
        .find_map(|l| l.strip_prefix("SHA-256 fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint in:\n{out}"))
        .to_string();
    let (cert, tls_key) = (state.join("tls/cert.pem"), state.join("tls/key.pem"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tls_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // openssl's own fingerprint of the file.
    let o = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .expect("this test needs openssl (apt-get install openssl)");
    let theirs = text(&o.stdout);
    assert!(
        theirs.trim().to_uppercase().ends_with(&format!("={fp}")),
        "openssl: {theirs} devsky: {fp}"
    );
    // A second init keeps it.
    let again = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["serve", "tls", "init", "--root"])
        .arg(&root)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains(&fp), "{}", text(&again.stderr));

    let (cert, tls_key) = (cert.display().to_string(), tls_key.display().to_string());
    let agent = start_agent(
        &root,
        &state,
        d.path().join("agent.log"),
        &["--tls-cert", &cert, "--tls-key", &tls_key],
        &[],
    );
    ok(&devsky(&["init"], &project));
    // Plain hex in lower case is the same pin.
    let plain = fp.replace(':', "").to_lowercase();
    ok(&devsky(
        &[
            "server",
            "add",
            "pin",
            "--url",
            &agent.url,
            "--key",
            &key,
            "--fingerprint",
            &plain,
        ],
        &project,
    ));
    let shown = ok(&devsky(&["server", "show", "pin"], &project));
    assert!(shown.contains(&fp), "{shown}");
    ok(&devsky(&["deploy", "push", "pin", "--yes"], &project));
    assert_same(&walk(&root), &walk(&project), "after the push over https");

    // One byte off: refused in the handshake, no request reached the agent.
    let first = u8::from_str_radix(&fp[..2], 16).unwrap();
    let wrong = format!("{:02X}{}", first ^ 1, &fp[2..]);
    ok(&devsky(
        &[
            "server",
            "add",
            "wrong",
            "--url",
            &agent.url,
            "--key",
            &key,
            "--fingerprint",
            &wrong,
        ],
        &project,
    ));
    refused_before_any_request(&project, "wrong", &agent, &[], "fingerprint");
    // Without the pin, the self-signed certificate is not trusted by the system's roots.
    ok(&devsky(
        &["server", "add", "nopin", "--url", &agent.url, "--key", &key],
        &project,
    ));
    refused_before_any_request(&project, "nopin", &agent, &[], "certificate");
    assert!(!agent.log_text().contains(&key));
}

#[test]
fn plain_http_is_refused_off_loopback_unless_asked_for() {
    let d = tempfile::tempdir().unwrap();
    let (root, state) = (d.path().join("root"), d.path().join("state"));
    put(&root, "index.php", b"<?php\n");
    let port = support::free_port();
    let listen = format!("0.0.0.0:{port}");
    let serve = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_devsky"));
        c.args(["serve", "--root"])
            .arg(&root)
            .arg("--state")
            .arg(&state)
            .args(["--listen", &listen])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let o = serve(&[]).wait_with_output().unwrap();
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("refusing to serve plain HTTP") && err.contains("--insecure-http"),
        "{err}"
    );

    let mut child = serve(&["--insecure-http"]);
    let client = reqwest::blocking::Client::new();
    let t0 = Instant::now();
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/api/v1/health"))
            .send()
            && r.status() == 200
        {
            break;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the agent ended: {st}");
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "it did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
