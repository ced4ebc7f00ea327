//! A private vsftpd for the FTP/FTPS deploy tests: on 127.0.0.1 (a free port, passive
//! mode), a temp config, a virtual user `deploy` with a random password (a Berkeley DB
//! made with db_load, checked by a temp PAM service with pam_userdb, acting as root), and with
//! `tls` explicit TLS with a temp self-signed certificate made by openssl (its SHA-256
//! fingerprint for `--fingerprint`). Stopped when dropped; its PAM service file removed.
//!
//! Needs vsftpd, db-util and openssl (scripts/test installs them), and root
//! (vsftpd authenticates local users through PAM as root).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::deploy::{devsky, ok};
use super::free_port;

pub const VSFTPD: &str = "/usr/sbin/vsftpd";

pub struct Vsftpd {
    child: Option<Child>,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// With TLS: the certificate's SHA-256 fingerprint (`AB:CD:...`).
    pub fingerprint: Option<String>,
    pub log: PathBuf,
    pam_file: PathBuf,
    config: PathBuf,
}

fn out(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

impl Vsftpd {
    /// Start vsftpd with its files in `dir/vsftpd-N`; `tls`: explicit TLS required.
    pub fn start(dir: &Path, tls: bool) -> Vsftpd {
        static N: AtomicU32 = AtomicU32::new(0);
        assert!(
            Path::new(VSFTPD).exists(),
            "vsftpd is needed: apt-get install vsftpd (scripts/test does)"
        );
        assert_eq!(
            out("id", &["-u"]).trim(),
            "0",
            "the FTP tests run vsftpd, which authenticates through PAM: run them as root"
        );
        let n = N.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}-{n}", std::process::id());
        let dir = dir.join(format!("vsftpd-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let password = format!("pw-{}-{}", tag, blake3::hash(tag.as_bytes()).to_hex());
        // A virtual user in a Berkeley DB that pam_userdb reads (vsftpd's own way of
        // virtual users; pam_exec cannot be used: vsftpd's SIGCHLD handler deadlocks on it).
        let user = "deploy".to_string();
        let db = dir.join("users");
        let mut load = Command::new("db_load")
            .args(["-T", "-t", "hash"])
            .arg(db.with_extension("db"))
            .stdin(Stdio::piped())
            .spawn()
            .expect("db_load is needed: apt-get install db-util (scripts/test does)");
        use std::io::Write;
        write!(load.stdin.take().unwrap(), "{user}\n{password}\n").unwrap();
        assert!(load.wait().unwrap().success(), "db_load failed");
        let service = format!("devsky-test-ftp-{tag}");
        let pam_file = PathBuf::from("/etc/pam.d").join(&service);
        std::fs::write(
            &pam_file,
            format!(
                "auth required pam_userdb.so db={0}\naccount required pam_userdb.so db={0}\n",
                db.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.join("vsftpd.log");
        let mut conf = format!(
            "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\nlocal_umask=022\n\
             chmod_enable=YES\nchroot_local_user=NO\npam_service_name={service}\n\
             userlist_enable=NO\ncheck_shell=NO\nseccomp_sandbox=NO\nisolate=NO\n\
             isolate_network=NO\nsecure_chroot_dir={}\npasv_enable=YES\n\
             pasv_address=127.0.0.1\nxferlog_enable=YES\nxferlog_std_format=NO\n\
             log_ftp_protocol=YES\nvsftpd_log_file={}\nuse_localtime=NO\n\
             max_clients=0\nmax_per_ip=0\nconnect_from_port_20=NO\nguest_enable=YES\n\
             guest_username=root\nvirtual_use_local_privs=YES\n",
            empty.display(),
            log.display()
        );
        let mut fingerprint = None;
        if tls {
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            out(
                "openssl",
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-keyout",
                    key.to_str().unwrap(),
                    "-out",
                    cert.to_str().unwrap(),
                ],
            );
            let fp = out(
                "openssl",
                &[
                    "x509",
                    "-noout",
                    "-fingerprint",
                    "-sha256",
                    "-in",
                    cert.to_str().unwrap(),
                ],
            );
            fingerprint = Some(fp.trim().rsplit('=').next().unwrap().to_string());
            conf += &format!(
                "ssl_enable=YES\nrsa_cert_file={}\nrsa_private_key_file={}\n\
                 force_local_logins_ssl=YES\nforce_local_data_ssl=YES\nrequire_ssl_reuse=YES\n\
                 ssl_ciphers=HIGH\nallow_anon_ssl=NO\n",
                cert.display(),
                key.display()
            );
        }
        let config = dir.join("vsftpd.conf");
        std::fs::write(&config, conf).unwrap();
        let mut v = Vsftpd {
            child: None,
            port,
            user,
            password,
            fingerprint,
            log,
            pam_file,
            config,
        };
        v.run();
        v
    }

    /// (Re)start the server process on the same port and config.
    pub fn run(&mut self) {
        let stderr = std::fs::File::create(self.log.with_extension("stderr")).unwrap();
        let child = Command::new(VSFTPD)
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "vsftpd did not come up:\n{}",
                std::fs::read_to_string(self.log.with_extension("stderr")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ftp://USER@127.0.0.1:PORT/ROOT`.
    pub fn url(&self, root: &Path) -> String {
        format!(
            "ftp://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            root.display()
        )
    }

    /// `devsky server add NAME --ftp URL [--tls --fingerprint FP]`, the password from the
    /// environment ($DEVSKY_FTP_PASSWORD).
    pub fn add_server(&self, project: &Path, name: &str, root: &Path, extra: &[&str]) -> String {
        let url = self.url(root);
        let mut args = vec!["server", "add", name, "--ftp", &url, "--env", "staging"];
        let fp;
        if let Some(f) = &self.fingerprint {
            fp = f.clone();
            args.extend(["--tls", "--fingerprint", &fp]);
        }
        args.extend(extra);
        let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args(&args)
            .current_dir(project)
            .env("DEVSKY_FTP_PASSWORD", &self.password)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let _ = devsky;
        ok(&o)
    }

    /// What vsftpd logged (every command and transfer).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many uploads of `path` (a suffix of the temp name's target) the log shows.
    pub fn uploads_logged(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("OK UPLOAD"))
            .count()
    }

    /// Kill the server and every session process it started.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let mut pids = super::sshd::descendants(child.id());
        pids.push(child.id());
        let args: Vec<String> = pids.iter().map(u32::to_string).collect();
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&args)
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
    }
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.pam_file);
    }
}
