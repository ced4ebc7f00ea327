//! FTP and FTPS (explicit TLS, `AUTH TLS`) targets without an agent, with suppaftp
//! (rustls): [`FtpConnector`] opens connections (passive mode, binary), [`FtpFs`] is one
//! of them as a [`RemoteFs`] for [`super::agentless`].
//!
//! A profile keeps `ftp://USER@HOST[:PORT]/DIR` (plain) or `ftpes://...` (explicit TLS) in
//! its URL, `?connections=N` when not the default; the password comes from its variable
//! or `.devsky/secrets/NAME.key`; an FTPS certificate is checked against the profile's
//! pinned fingerprint, its CA, or the system's roots.
//!
//! Listings are `LIST -a` (dot files too), parsed by suppaftp (UNIX and DOS formats): the
//! mtime is as precise as the server shows it (often a minute).

use std::io::{Read, Write};
use std::net::ToSocketAddrs;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, bail};
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpStream, RustlsConnector, RustlsFtpStream};

use super::agentless::{AgentlessTransport, Connector, RemoteFs, Stat, StatKind, settings_of};
use super::{Remote, ServerProfile};

/// How long connecting and each reply may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how to reach an FTP target.
#[derive(Clone)]
pub struct FtpConnector {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// The web root as the server shows it (absolute).
    pub root: String,
    /// Explicit TLS with this setup.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// The profile URL for `server add --ftp URL [--tls]`: checked, no password in it.
pub fn profile_url(url: &str, tls: bool, connections: usize) -> anyhow::Result<String> {
    let mut u = reqwest::Url::parse(url).with_context(|| format!("--ftp {url}: not a URL"))?;
    if !matches!(u.scheme(), "ftp" | "ftpes") {
        bail!("--ftp is ftp://USER@HOST[:PORT]/DIR (with --tls for FTPS)");
    }
    if u.password().is_some() {
        bail!("--ftp: no password in the URL; give --password-env VAR or type it when asked");
    }
    if u.username().is_empty() || u.host_str().is_none() {
        bail!("--ftp is ftp://USER@HOST[:PORT]/DIR");
    }
    if u.query().is_some() || u.fragment().is_some() {
        bail!("--ftp: no ?query or #fragment");
    }
    let s = u.as_str().to_string();
    let s = if tls {
        s.replacen("ftp://", "ftpes://", 1)
    } else {
        s
    };
    u = reqwest::Url::parse(&s)?;
    if connections != super::agentless::DEFAULT_CONNECTIONS {
        u.set_query(Some(&format!("connections={connections}")));
    }
    Ok(u.to_string())
}

fn decode(s: &str) -> anyhow::Result<String> {
    let bytes: Vec<u8> = {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let h = std::str::from_utf8(&b[i + 1..i + 3])?;
                out.push(u8::from_str_radix(h, 16).context("bad %-escape")?);
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    };
    let s = String::from_utf8(bytes).context("not UTF-8")?;
    if s.contains(['\r', '\n', '\0']) {
        bail!("a line break or NUL in the URL");
    }
    Ok(s)
}

/// The [`Remote`] of an FTP profile.
pub fn connect(project_root: &Path, p: &ServerProfile) -> anyhow::Result<Remote> {
    let url = p.url.as_deref().context("the server has no URL")?;
    let u = reqwest::Url::parse(url).with_context(|| format!("{url}: not a URL"))?;
    let tls = match u.scheme() {
        "ftp" => None,
        "ftpes" => Some(Arc::new(super::tls::rustls_config(&p.trust())?)),
        s => bail!("{s}: not ftp or ftpes"),
    };
    let password = super::agentless::load_password(project_root, p)?.with_context(|| {
        format!(
            "no password for {}: add the server again (it is kept in .devsky/secrets) or \
             give --password-env VAR",
            p.name
        )
    })?;
    let mut root = decode(u.path())?;
    if root.len() > 1 {
        root = root.trim_end_matches('/').to_string();
    }
    let c = FtpConnector {
        host: u.host_str().context("no host")?.to_string(),
        port: u.port().unwrap_or(21),
        user: decode(u.username())?,
        password,
        root,
        tls,
    };
    let settings = settings_of(project_root, p, &u)?;
    Ok(Remote::new(Box::new(AgentlessTransport::connect(
        Box::new(c),
        settings,
    )?)))
}

/// One connection, plain or TLS.
enum Stream {
    Plain(FtpStream),
    Tls(Box<RustlsFtpStream>),
}

macro_rules! each {
    ($s:expr, $f:ident ( $($a:expr),* )) => {
        match $s {
            Stream::Plain(s) => s.$f($($a),*),
            Stream::Tls(s) => s.$f($($a),*),
        }
    };
}

/// One FTP connection to a target.
pub struct FtpFs {
    s: Stream,
    root: String,
    label: String,
}

impl Connector for FtpConnector {
    fn open(&self) -> anyhow::Result<Box<dyn RemoteFs>> {
        let label = self.label();
        let err = |e: FtpError| anyhow::anyhow!("{label}: {e}");
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("{label}: cannot resolve {}", self.host))?
            .next()
            .with_context(|| format!("{label}: no address for {}", self.host))?;
        let mut s = match &self.tls {
            None => Stream::Plain(FtpStream::connect_timeout(addr, TIMEOUT).map_err(err)?),
            Some(cfg) => {
                let plain = RustlsFtpStream::connect_timeout(addr, TIMEOUT).map_err(err)?;
                // rustls takes an IP address as the name too.
                let domain = self.host.clone();
                // A session cache of this connection's own: its data connections resume
                // its TLS session (servers such as vsftpd demand it, require_ssl_reuse).
                let mut own = (**cfg).clone();
                own.resumption = rustls::client::Resumption::in_memory_sessions(32);
                Stream::Tls(Box::new(
                    plain
                        .into_secure(RustlsConnector::from(Arc::new(own)), &domain)
                        .map_err(|e| anyhow::anyhow!("{label}: TLS: {e}"))?,
                ))
            }
        };
        match &s {
            Stream::Plain(f) => {
                f.get_ref().set_read_timeout(Some(TIMEOUT))?;
                f.get_ref().set_write_timeout(Some(TIMEOUT))?;
            }
            Stream::Tls(f) => {
                f.get_ref().set_read_timeout(Some(TIMEOUT))?;
                f.get_ref().set_write_timeout(Some(TIMEOUT))?;
            }
        }
        each!(&mut s, login(self.user.as_str(), self.password.as_str()))
            .map_err(|e| anyhow::anyhow!("{label}: login refused: {e}"))?;
        each!(&mut s, transfer_type(FileType::Binary)).map_err(err)?;
        Ok(Box::new(FtpFs {
            s,
            root: self.root.clone(),
            label,
        }))
    }

    fn label(&self) -> String {
        let scheme = if self.tls.is_some() { "ftpes" } else { "ftp" };
        format!(
            "{scheme}://{}@{}:{}{}",
            self.user, self.host, self.port, self.root
        )
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "ftps" } else { "ftp" }
    }

    fn root(&self) -> String {
        self.root.clone()
    }
}

impl FtpFs {
    fn abs(&self, rel: &str) -> String {
        match (self.root.as_str(), rel) {
            (r, "") => r.to_string(),
            ("/", rel) => format!("/{rel}"),
            (r, rel) => format!("{r}/{rel}"),
        }
    }

    fn err(&self, what: &str, path: &str, e: FtpError) -> anyhow::Error {
        anyhow::anyhow!("{}: {what} {path}: {e}", self.label)
    }
}

/// The permission bits of a UNIX listing line (`-rw-r--r--`).
fn mode_of(line: &str) -> Option<u32> {
    let p = line.as_bytes().get(1..10)?;
    let mut m = 0u32;
    for (i, c) in p.iter().enumerate() {
        let bit = 1 << (8 - i);
        match c {
            b'r' | b'w' | b'x' => m |= bit,
            b's' | b't' => m |= bit,
            b'-' | b'S' | b'T' => {}
            _ => return None,
        }
    }
    Some(m)
}

impl RemoteFs for FtpFs {
    fn list(&mut self, dir: &str) -> anyhow::Result<Option<Vec<Stat>>> {
        let abs = self.abs(dir);
        // A folder that is not there: CWD says so (LIST of a missing path is not an error
        // on every server).
        match each!(&mut self.s, cwd(abs.as_str())) {
            Ok(()) => {}
            Err(FtpError::UnexpectedResponse(r)) if r.status.code() == 550 => return Ok(None),
            Err(e) => return Err(self.err("cannot open folder", &abs, e)),
        }
        let lines =
            each!(&mut self.s, list(Some("-a"))).map_err(|e| self.err("cannot list", &abs, e))?;
        let mut out = Vec::new();
        for line in lines {
            let Ok(f) = suppaftp::list::File::from_str(&line) else {
                continue;
            };
            let kind = if f.is_directory() {
                StatKind::Dir
            } else if f.is_file() {
                StatKind::File
            } else {
                StatKind::Other
            };
            let mtime = f
                .modified()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            out.push(Stat {
                name: f.name().to_string(),
                kind,
                size: f.size() as u64,
                mtime,
                mode: mode_of(&line),
            });
        }
        Ok(Some(out))
    }

    fn get(&mut self, path: &str, out: &mut dyn Write) -> anyhow::Result<()> {
        let abs = self.abs(path);
        let r = each!(
            &mut self.s,
            retr(abs.as_str(), |r: &mut dyn Read| {
                std::io::copy(r, out).map_err(FtpError::ConnectionError)
            })
        );
        r.map_err(|e| self.err("cannot download", &abs, e))?;
        Ok(())
    }

    fn put(&mut self, path: &str, src: &mut dyn Read) -> anyhow::Result<()> {
        let abs = self.abs(path);
        let mut src = src;
        each!(&mut self.s, put_file(abs.as_str(), &mut src))
            .map_err(|e| self.err("cannot upload", &abs, e))?;
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> anyhow::Result<()> {
        let (a, b) = (self.abs(from), self.abs(to));
        each!(&mut self.s, rename(a.as_str(), b.as_str()))
            .map_err(|e| self.err("cannot rename", &a, e))
    }

    fn remove(&mut self, path: &str) -> anyhow::Result<()> {
        let abs = self.abs(path);
        each!(&mut self.s, rm(abs.as_str())).map_err(|e| self.err("cannot delete", &abs, e))
    }

    fn mkdir(&mut self, path: &str) -> anyhow::Result<()> {
        let abs = self.abs(path);
        match each!(&mut self.s, mkdir(abs.as_str())) {
            Ok(()) => Ok(()),
            // Already there (another connection made it): fine if it is a folder.
            Err(e) => match each!(&mut self.s, cwd(abs.as_str())) {
                Ok(()) => Ok(()),
                Err(_) => Err(self.err("cannot make folder", &abs, e)),
            },
        }
    }

    fn mkdir_new(&mut self, path: &str) -> anyhow::Result<bool> {
        let abs = self.abs(path);
        match each!(&mut self.s, mkdir(abs.as_str())) {
            Ok(()) => Ok(true),
            Err(e) => match each!(&mut self.s, cwd(abs.as_str())) {
                Ok(()) => Ok(false),
                Err(_) => Err(self.err("cannot make folder", &abs, e)),
            },
        }
    }

    fn rmdir(&mut self, path: &str) -> anyhow::Result<()> {
        let abs = self.abs(path);
        each!(&mut self.s, rmdir(abs.as_str()))
            .map_err(|e| self.err("cannot remove folder", &abs, e))
    }

    fn chmod(&mut self, path: &str, mode: u32) -> anyhow::Result<()> {
        let abs = self.abs(path);
        each!(&mut self.s, site(format!("CHMOD {mode:o} {abs}")))
            .map_err(|e| self.err("cannot chmod", &abs, e))?;
        Ok(())
    }

    fn make_root(&mut self) -> anyhow::Result<()> {
        let root = self.root.clone();
        let mut at = String::new();
        for part in root.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            if each!(&mut self.s, cwd(at.as_str())).is_err() {
                each!(&mut self.s, mkdir(at.as_str()))
                    .map_err(|e| self.err("cannot make folder", &at, e))?;
            }
        }
        Ok(())
    }
}

impl Drop for FtpFs {
    fn drop(&mut self) {
        let _ = each!(&mut self.s, quit());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_urls() {
        assert_eq!(
            profile_url("ftp://me@host/var/www", false, 4).unwrap(),
            "ftp://me@host/var/www"
        );
        assert_eq!(
            profile_url("ftp://me@host:2121/www", true, 2).unwrap(),
            "ftpes://me@host:2121/www?connections=2"
        );
        for bad in [
            "ftp://me:pw@host/www",
            "ftp://host/www",
            "http://me@host/www",
            "ftp://me@host/www?x=1",
            "not a url",
        ] {
            assert!(profile_url(bad, false, 4).is_err(), "{bad}");
        }
        assert_eq!(decode("/a%20b").unwrap(), "/a b");
        assert!(decode("/a%0D%0ADELE%20x").is_err(), "no command injection");
    }

    #[test]
    fn modes_of_listing_lines() {
        assert_eq!(mode_of("-rw-r--r--    1 0 0 5 Dec 05 04:58 a"), Some(0o644));
        assert_eq!(
            mode_of("drwxr-xr-x    2 0 0 4096 Dec 05 04:58 d"),
            Some(0o755)
        );
        assert_eq!(mode_of("12-05-26  04:58AM  5 a"), None);
    }
}
