//! SFTP with a password, end to end: a private OpenSSH sshd on loopback with password
//! authentication on (no PAM: sshd checks the system's shadow file), a test user made for
//! it (`useradd`, a random password set with `chpasswd` on every run: the tests run as
//! root), and devsky logging in with the password only (public keys off on the client).
//! The password comes from the environment (`--password-env`, read at every connection) or
//! is kept in `.devsky/secrets/NAME.key` (0600, from `$DEVSKY_SFTP_PASSWORD` at `server
//! add`); it is handed to ssh through SSH_ASKPASS and never printed. A wrong password is
//! refused with ssh's words, and nothing changes on the server.
//!
//! Oracles: sshd's own log ("Accepted password for USER"), the tests' own walker over the
//! served folder.
//!
//! Needs OpenSSH (`apt-get install openssh-server openssh-client`), passwd's useradd and
//! chpasswd, and root.

mod support;
use support::deploy::{devsky_env, ok, put, text};
use support::sshd::Sshd;
use support::tree::{Node, walk};

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The user sshd lets in by password (made once, its password set on every run).
const USER: &str = "devskysftp";

fn files(root: &Path) -> Vec<(String, String)> {
    walk(root)
        .into_iter()
        .filter(|(p, _)| p.as_slice() != b".devsky-state")
        .filter_map(|(p, n)| match n {
            Node::File { blake3, .. } => Some((String::from_utf8_lossy(&p).into_owned(), blake3)),
            _ => None,
        })
        .collect()
}

/// Make [`USER`] if needed and give it a new random password.
fn test_user() -> String {
    let root = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        root.stdout, b"0\n",
        "this test makes a system user for sshd's password login: run it as root (CI does)"
    );
    if !Command::new("id")
        .arg(USER)
        .output()
        .unwrap()
        .status
        .success()
    {
        let o = Command::new("useradd")
            .args(["-M", "-d", "/", "-s", "/bin/sh", USER])
            .output()
            .expect("useradd is needed: apt-get install passwd");
        assert!(o.status.success(), "useradd: {}", text(&o.stderr));
    }
    let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
    let password = format!("Pw-{}", &blake3::hash(seed.as_bytes()).to_hex()[..20]);
    let mut c = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chpasswd is needed: apt-get install passwd");
    writeln!(c.stdin.take().unwrap(), "{USER}:{password}").unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "chpasswd: {}", text(&o.stderr));
    password
}

/// `server add NAME --sftp USER@sshd --root ROOT` logging in by password only, with
/// `extra` arguments and `env`.
fn add(
    sshd: &Sshd,
    project: &Path,
    name: &str,
    root: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let kh = format!("-o UserKnownHostsFile={}", sshd.known_hosts.display());
    let dest = format!("{USER}@127.0.0.1:{}", sshd.port);
    let mut args = vec![
        "server",
        "add",
        name,
        "--sftp",
        &dest,
        "--root",
        root.to_str().unwrap(),
        "--ssh-opt",
        "-F /dev/null",
        "--ssh-opt",
        &kh,
        "--ssh-opt",
        "-o StrictHostKeyChecking=no -o PubkeyAuthentication=no \
         -o PreferredAuthentications=password -o NumberOfPasswordPrompts=1 -o LogLevel=ERROR",
    ];
    args.extend(extra);
    devsky_env(&args, project, env)
}

fn never_shows(o: &std::process::Output, secret: &str) {
    for s in [text(&o.stdout), text(&o.stderr)] {
        assert!(!s.contains(secret), "the password was printed:\n{s}");
    }
}

#[test]
fn sftp_logs_in_with_a_password_from_the_environment_or_the_secrets_folder() {
    let password = test_user();
    let d = tempfile::tempdir().unwrap();
    // The user reaches the root through the temp folder; it owns the root.
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    std::fs::create_dir_all(&root).unwrap();
    let o = Command::new("chown")
        .args([USER, root.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "chown: {}", text(&o.stderr));
    put(&project, "index.php", b"<?php echo 1;\n");
    put(&project, "assets/site.css", b"body { color: red }\n");
    ok(&devsky_env(&["init"], &project, &[]));
    let sshd = Sshd::start_password(d.path());

    // The password named by a variable: read at every connection, never stored.
    let o = add(
        &sshd,
        &project,
        "web",
        &root,
        &["--password-env", "WEB_PW"],
        &[("WEB_PW", &password)],
    );
    never_shows(&o, &password);
    assert!(text(&o.stdout).contains("added server web"), "{}", ok(&o));
    assert!(!project.join(".devsky/secrets/web.key").exists());
    let o = devsky_env(
        &["deploy", "push", "web", "--yes"],
        &project,
        &[("WEB_PW", &password)],
    );
    never_shows(&o, &password);
    let out = ok(&o);
    assert!(out.contains(": done"), "{out}");
    assert_eq!(files(&root), files(&project), "after the push");
    let log = sshd.log_text();
    assert!(
        log.contains(&format!("Accepted password for {USER} from 127.0.0.1")),
        "{log}"
    );
    assert!(!log.contains("Accepted publickey"), "{log}");
    // Without the variable: a clear error naming it.
    let o = devsky_env(&["deploy", "plan", "web"], &project, &[]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("$WEB_PW"), "{}", text(&o.stderr));

    // Kept in the secrets folder (0600) from $DEVSKY_SFTP_PASSWORD at `server add`.
    let o = add(
        &sshd,
        &project,
        "kept",
        &root,
        &[],
        &[("DEVSKY_SFTP_PASSWORD", &password)],
    );
    never_shows(&o, &password);
    ok(&o);
    let key = project.join(".devsky/secrets/kept.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", key.display());
    let o = devsky_env(&["deploy", "status", "kept"], &project, &[]);
    never_shows(&o, &password);
    ok(&o);
    let show = devsky_env(&["server", "show", "kept", "--json"], &project, &[]);
    never_shows(&show, &password);

    // A wrong password: refused with ssh's words, never shown, nothing changed.
    let before = files(&root);
    put(&project, "index.php", b"<?php echo 2;\n");
    let wrong = "Wrong-horse-battery";
    ok(&add(
        &sshd,
        &project,
        "bad",
        &root,
        &["--password-env", "BAD_PW"],
        &[("BAD_PW", wrong)],
    ));
    let o = devsky_env(
        &["deploy", "push", "bad", "--yes"],
        &project,
        &[("BAD_PW", wrong)],
    );
    never_shows(&o, wrong);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("Permission denied"), "{err}");
    assert_eq!(files(&root), before, "a refused login changes nothing");
}
