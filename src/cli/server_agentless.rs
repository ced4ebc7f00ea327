//! `devsky server add NAME --ftp ftp://USER@HOST[:PORT]/DIR [--tls]` and `--sftp USER@HOST
//! --root DIR`: deploy targets without a devsky agent (see `engine::remote::agentless`).
//!
//! A password is never an argument: it is read from `--password-env VAR` (kept as the
//! name of the variable, read at every connection), else from `$DEVSKY_FTP_PASSWORD` /
//! `$DEVSKY_SFTP_PASSWORD` or a prompt on the terminal, and kept in
//! `.devsky/secrets/NAME.key` (mode 0600). It is never printed.
//!
//! Also the deploy commands only such targets have: `devsky deploy adopt` and the drift
//! lines of `deploy plan|push`.

use std::io::Write;

use anyhow::{Context, bail};
use clap::Args;

use super::output::print_json;
use super::server::AddArgs;
use crate::engine::remote::agentless::{DEFAULT_CONNECTIONS, MAX_CONNECTIONS};
use crate::engine::remote::tls::{check_ca, parse_fingerprint};
use crate::engine::remote::{ServerProfile, add_server, remove_server, store_key};

/// The options of `server add` for FTP and SFTP targets.
#[derive(Debug, Args, Default)]
pub struct AgentlessArgs {
    /// Deploy over FTP (no agent on the server): ftp://USER@HOST[:PORT]/DIR, DIR being the
    /// web root as the FTP server shows it. Passive mode.
    #[arg(long, value_name = "URL", conflicts_with = "sftp")]
    pub ftp: Option<String>,
    /// With --ftp: explicit TLS (AUTH TLS, FTPS); the certificate is checked against the
    /// system's roots, --ca or --fingerprint.
    #[arg(long, requires = "ftp")]
    pub tls: bool,
    /// Deploy over SFTP (no agent on the server), through the system's ssh (`ssh -s
    /// USER@HOST sftp`, your ~/.ssh/config, keys and agent); with --root DIR.
    #[arg(long, value_name = "USER@HOST[:PORT]")]
    pub sftp: Option<String>,
    /// With --ftp or --sftp: read the password from this environment variable at every
    /// connection (default: $DEVSKY_FTP_PASSWORD / $DEVSKY_SFTP_PASSWORD or a prompt, kept
    /// in .devsky/secrets/NAME.key, mode 0600).
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// With --sftp: no password (the ssh keys or agent authenticate).
    #[arg(long, requires = "sftp")]
    pub no_password: bool,
    /// With --ftp or --sftp: parallel connections for uploads (hosts limit them).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONNECTIONS)]
    pub connections: usize,
}

/// Add an FTP or SFTP target.
pub fn add(a: &AddArgs) -> anyhow::Result<i32> {
    let g = &a.agentless;
    if a.key.is_some() || a.key_env.is_some() {
        bail!(
            "an FTP or SFTP target has no API key: give its password with --password-env VAR or when asked"
        );
    }
    if !(1..=MAX_CONNECTIONS).contains(&g.connections) {
        bail!("--connections is 1 to {MAX_CONNECTIONS}");
    }
    let mut p = ServerProfile {
        id: 0,
        name: a.name.clone(),
        environment: a.environment.clone(),
        transport: String::new(),
        url: None,
        key_env: g.password_env.clone(),
        ssh: None,
        remote_root: None,
        is_default: a.default,
        created: crate::store::now(),
        tls_ca: None,
        tls_fingerprint: None,
        include: a.globs.include.clone(),
        exclude: a.globs.exclude.clone(),
        options: serde_json::Value::Null,
    };
    let default_var;
    if let Some(ftp) = &g.ftp {
        if a.root.is_some() || !a.ssh_opt.is_empty() {
            bail!(
                "--ftp takes the folder in its URL (ftp://USER@HOST/DIR); --root and --ssh-opt are for --sftp"
            );
        }
        p.transport = "ftp".into();
        p.url = Some(crate::engine::remote::ftp::profile_url(
            ftp,
            g.tls,
            g.connections,
        )?);
        if !g.tls && (a.ca.is_some() || a.fingerprint.is_some()) {
            bail!("--ca and --fingerprint are for --ftp with --tls");
        }
        default_var = "DEVSKY_FTP_PASSWORD";
    } else {
        let sftp = g
            .sftp
            .as_deref()
            .context("give --ftp URL or --sftp USER@HOST")?;
        let Some(root) = a.root.clone().filter(|r| !r.trim().is_empty()) else {
            bail!("--sftp needs --root DIR: the web root on the server");
        };
        if a.ca.is_some() || a.fingerprint.is_some() {
            bail!("--ca and --fingerprint are for --ftp --tls (ssh checks the host key)");
        }
        let (ssh, url) =
            crate::engine::remote::sftp::profile_columns(sftp, &a.ssh_opt, &root, g.connections)?;
        p.transport = "sftp".into();
        p.ssh = Some(ssh);
        p.url = Some(url);
        p.remote_root = Some(root);
        default_var = "DEVSKY_SFTP_PASSWORD";
    }
    if let Some(f) = &a.ca {
        let pem = std::fs::read_to_string(f)
            .with_context(|| format!("--ca {}: cannot read it", f.display()))?;
        check_ca(&pem).with_context(|| format!("--ca {}", f.display()))?;
        p.tls_ca = Some(pem);
    }
    p.tls_fingerprint = a
        .fingerprint
        .as_deref()
        .map(parse_fingerprint)
        .transpose()?;
    if let Some(v) = &g.password_env
        && std::env::var_os(v).is_none()
    {
        bail!("--password-env {v}: that variable is not set");
    }
    let password = match (&g.password_env, g.no_password) {
        (Some(_), _) | (None, true) => None,
        (None, false) => match std::env::var(default_var) {
            Ok(pw) => Some(pw),
            Err(_) if p.transport == "sftp" => None,
            Err(_) => Some(prompt_password(&format!(
                "password for {}: ",
                p.url.as_deref().unwrap_or("")
            ))?),
        },
    };
    if password.as_deref() == Some("") {
        bail!("the password is empty");
    }
    let project = super::server::project(a.project.clone())?;
    let mut store = project.open_store(true)?;
    add_server(&mut store, &p)?;
    if let Some(pw) = &password
        && let Err(e) = store_key(&project.root, &p.name, pw)
    {
        let _ = remove_server(&mut store, &project.root, &p.name);
        return Err(e);
    }
    println!(
        "added server {} ({}, {}); password: {}",
        p.name,
        p.environment,
        p.url.as_deref().unwrap_or("-"),
        crate::engine::remote::key_source(&project.root, &p)
    );
    Ok(0)
}

/// Ask for a password on the terminal, without echo.
fn prompt_password(prompt: &str) -> anyhow::Result<String> {
    use std::io::BufRead;
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context(
            "no password: set $DEVSKY_FTP_PASSWORD (or give --password-env VAR), or run this \
             on a terminal to be asked",
        )?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios calls on a descriptor this function owns, with a zeroed struct.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    let have = unsafe { libc::tcgetattr(fd, &mut old) } == 0;
    if have {
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    (&tty).write_all(prompt.as_bytes())?;
    let mut line = String::new();
    let r = std::io::BufReader::new(&tty).read_line(&mut line);
    if have {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    }
    let _ = (&tty).write_all(b"\n");
    r?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `devsky deploy adopt SERVER [--force]`.
#[derive(Debug, Args)]
pub struct AdoptArgs {
    #[command(flatten)]
    pub at: super::deploy::RemoteArgs,
    /// Hash everything again even where the target has a state file.
    #[arg(long)]
    pub force: bool,
}

/// Paths changed on an FTP/SFTP target by someone else since devsky's last deploy.
pub(super) fn print_drift(drift: &[crate::engine::remote::agentless::tree::Drift]) {
    if drift.is_empty() {
        return;
    }
    println!(
        "drift: {} path(s) changed on the server outside devsky (a push refuses to \
         overwrite them without --force):",
        drift.len()
    );
    for d in drift {
        println!("  ~ {} ({})", d.path, d.what);
    }
}

pub(super) fn adopt(a: AdoptArgs) -> anyhow::Result<i32> {
    let (_, p, remote) = super::deploy::open_remote(&a.at)?;
    let id = remote.adopt(a.force)?;
    let d = remote.status(id)?;
    if a.at.json {
        print_json(&d)?;
    } else {
        println!("{}: {} ({})", p.name, d.summary, d.status);
    }
    Ok(0)
}
