//! Connection URLs: `mysql://user@host:3306/db`, `mysql://user@localhost/db?socket=/path`,
//! `sqlite:///abs/path.db`, `sqlite:relative.db` (relative to the project root).
//!
//! A password written into a URL (`mysql://user:PASS@host/db`) is accepted but never kept in
//! a [`DbUrl`]: [`parse`] hands it back separately so the caller can use it once and tell the
//! user it was not stored. `Display` prints a URL that parses back to the same value and
//! never holds a password.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Kind;

/// A parsed connection URL, without password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Mysql {
        user: String,
        host: String,
        /// None: the default port (3306).
        port: Option<u16>,
        database: Option<String>,
        /// Connect through this Unix socket instead of TCP.
        socket: Option<PathBuf>,
    },
    Sqlite {
        /// As written: absolute, or relative to the project root.
        path: PathBuf,
    },
}

/// The default MySQL port.
pub const MYSQL_PORT: u16 = 3306;

/// What [`parse`] found: the URL, and the password it carried (never stored).
#[derive(Clone, PartialEq, Eq)]
pub struct Parsed {
    pub url: DbUrl,
    /// A password that was written into the URL and stripped from it.
    pub password: Option<String>,
}

impl fmt::Debug for Parsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parsed")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Why a URL was refused. Messages quote the URL with any password masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad database URL {url}: {reason}")]
pub struct UrlError {
    pub url: String,
    pub reason: String,
}

const FORMS: &str = "use mysql://USER@HOST[:PORT]/DB, mysql://USER@localhost/DB?socket=/path/to/sock, \
                     sqlite:///absolute/path.db or sqlite:relative/path.db";

/// Parse a connection URL. A password in it is returned in [`Parsed::password`].
pub fn parse(text: &str) -> Result<Parsed, UrlError> {
    let masked = mask_password(text);
    let err = |reason: String| UrlError {
        url: masked.clone(),
        reason,
    };
    let text = text.trim();
    if let Some(rest) =
        strip_prefix_ci(text, "mysql://").or_else(|| strip_prefix_ci(text, "mariadb://"))
    {
        return parse_mysql(rest).map_err(err);
    }
    if let Some(rest) = strip_prefix_ci(text, "sqlite:") {
        let path = if let Some(abs) = rest.strip_prefix("//") {
            if !abs.starts_with('/') {
                return Err(err(format!(
                    "sqlite://{abs} has a host part; write sqlite:///absolute/path or sqlite:{abs}"
                )));
            }
            abs
        } else {
            rest
        };
        let path = percent_decode(path).map_err(err)?;
        if path.is_empty() {
            return Err(err("no file path after sqlite:".into()));
        }
        if path.contains('?') {
            return Err(err("SQLite URLs take no parameters".into()));
        }
        return Ok(Parsed {
            url: DbUrl::Sqlite {
                path: PathBuf::from(path),
            },
            password: None,
        });
    }
    let scheme = text.split_once(':').map(|(s, _)| s).unwrap_or("");
    if scheme.is_empty() || scheme.contains('/') {
        Err(err(format!("no scheme; {FORMS}")))
    } else {
        Err(err(format!("unsupported scheme `{scheme}`; {FORMS}")))
    }
}

fn parse_mysql(rest: &str) -> Result<Parsed, String> {
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match main.split_once('/') {
        Some((a, p)) => (a, p),
        None => (main, ""),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => return Err(format!("no user (write mysql://USER@{hostport}/...)")),
        Some(u) => match u.split_once(':') {
            Some((u, p)) => (percent_decode(u)?, Some(percent_decode(p)?)),
            None => (percent_decode(u)?, None),
        },
    };
    if user.is_empty() {
        return Err("empty user name".into());
    }
    let (host, port) = split_host_port(hostport)?;
    let host = percent_decode(host)?;
    let database = match percent_decode(path.trim_end_matches('/'))? {
        d if d.is_empty() => None,
        d if d.contains('/') => return Err(format!("`{d}` is not a database name")),
        d => Some(d),
    };
    let mut socket = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "socket" => {
                let v = percent_decode(v)?;
                if v.is_empty() {
                    return Err("socket= needs a path".into());
                }
                socket = Some(PathBuf::from(v));
            }
            _ => {
                return Err(format!(
                    "unknown parameter `{k}` (only socket= is understood)"
                ));
            }
        }
    }
    if host.is_empty() && socket.is_none() {
        return Err("no host (write mysql://USER@HOST/DB or add ?socket=/path)".into());
    }
    Ok(Parsed {
        url: DbUrl::Mysql {
            user,
            host: if host.is_empty() {
                "localhost".into()
            } else {
                host
            },
            port,
            database,
            socket,
        },
        password: password.filter(|p| !p.is_empty()),
    })
}

fn split_host_port(s: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("unclosed `[` in host `{s}`"))?;
        match after {
            "" => (h, None),
            p if p.starts_with(':') => (h, Some(&p[1..])),
            _ => return Err(format!("unexpected text after `]` in `{s}`")),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("port `{p}` is not a number from 1 to 65535"))?,
        ),
    };
    Ok((host, port))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "a `%` not followed by two hex digits".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoding that is not UTF-8".to_string())
}

fn percent_encode(s: &str, keep: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) || keep.as_bytes().contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// `text` with the password of a `scheme://user:PASS@host` URL replaced by `***`, for
/// messages about a URL that may not parse.
pub fn mask_password(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_string();
    };
    let rest = &text[start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return text.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &text[..start], &rest[..colon], &rest[at..]),
        None => text.to_string(),
    }
}

impl DbUrl {
    pub fn kind(&self) -> Kind {
        match self {
            DbUrl::Mysql { .. } => Kind::Mysql,
            DbUrl::Sqlite { .. } => Kind::Sqlite,
        }
    }

    /// The SQLite file, resolved against the project root when relative.
    pub fn sqlite_path(&self, project_root: &Path) -> Option<PathBuf> {
        match self {
            DbUrl::Sqlite { path } if path.is_absolute() => Some(path.clone()),
            DbUrl::Sqlite { path } => Some(project_root.join(path)),
            DbUrl::Mysql { .. } => None,
        }
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::Mysql {
                user,
                host,
                port,
                database,
                socket,
            } => {
                write!(f, "mysql://{}@", percent_encode(user, "!$&'()*+,;="))?;
                if host.contains(':') {
                    write!(f, "[{host}]")?;
                } else {
                    write!(f, "{}", percent_encode(host, ""))?;
                }
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                write!(f, "/")?;
                if let Some(d) = database {
                    write!(f, "{}", percent_encode(d, "$"))?;
                }
                if let Some(s) = socket {
                    write!(f, "?socket={}", percent_encode(&s.to_string_lossy(), "/"))?;
                }
                Ok(())
            }
            DbUrl::Sqlite { path } => {
                let p = percent_encode(&path.to_string_lossy(), "/:+,=@");
                if path.is_absolute() {
                    write!(f, "sqlite://{p}")
                } else {
                    write!(f, "sqlite:{p}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql(
        user: &str,
        host: &str,
        port: Option<u16>,
        db: Option<&str>,
        socket: Option<&str>,
    ) -> DbUrl {
        DbUrl::Mysql {
            user: user.into(),
            host: host.into(),
            port,
            database: db.map(Into::into),
            socket: socket.map(PathBuf::from),
        }
    }

    #[test]
    fn mysql_forms() {
        let p = parse("mysql://app@db.example.com:3307/shop").unwrap();
        assert_eq!(
            p.url,
            mysql("app", "db.example.com", Some(3307), Some("shop"), None)
        );
        assert_eq!(p.password, None);
        let p = parse("mysql://root@localhost/shop?socket=/run/mysqld/mysqld.sock").unwrap();
        assert_eq!(
            p.url,
            mysql(
                "root",
                "localhost",
                None,
                Some("shop"),
                Some("/run/mysqld/mysqld.sock")
            )
        );
        let p = parse("mysql://root@localhost/shop?socket=%2Ftmp%2Fa%20b%2Fsock").unwrap();
        assert_eq!(
            p.url,
            mysql(
                "root",
                "localhost",
                None,
                Some("shop"),
                Some("/tmp/a b/sock")
            )
        );
        let p = parse("mysql://u@[::1]:3306/").unwrap();
        assert_eq!(p.url, mysql("u", "::1", Some(3306), None, None));
        let p = parse("MariaDB://u%40x@h/d").unwrap();
        assert_eq!(p.url, mysql("u@x", "h", None, Some("d"), None));
    }

    #[test]
    fn password_is_stripped_and_returned() {
        let p = parse("mysql://app:s3cr%3At@db:3306/shop").unwrap();
        assert_eq!(p.password.as_deref(), Some("s3cr:t"));
        assert_eq!(p.url, mysql("app", "db", Some(3306), Some("shop"), None));
        let shown = p.url.to_string();
        assert_eq!(shown, "mysql://app@db:3306/shop");
        assert!(!format!("{p:?}").contains("s3cr"));
        assert_eq!(
            mask_password("mysql://app:s3cr@db/x"),
            "mysql://app:***@db/x"
        );
        let e = parse("mysql://app:s3cr@db:99999/x")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cr") && e.contains("99999"), "{e}");
    }

    #[test]
    fn sqlite_forms() {
        let p = parse("sqlite:///srv/app/data.db").unwrap();
        assert_eq!(
            p.url,
            DbUrl::Sqlite {
                path: "/srv/app/data.db".into()
            }
        );
        assert_eq!(
            p.url.sqlite_path(Path::new("/p")).unwrap(),
            PathBuf::from("/srv/app/data.db")
        );
        let p = parse("sqlite:var/app.db").unwrap();
        assert_eq!(
            p.url.sqlite_path(Path::new("/p")).unwrap(),
            PathBuf::from("/p/var/app.db")
        );
        assert_eq!(p.url.to_string(), "sqlite:var/app.db");
        assert!(
            parse("sqlite://host/x.db")
                .unwrap_err()
                .reason
                .contains("host part")
        );
        assert!(parse("sqlite:").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "mysql://app@db:3307/shop",
            "mysql://root@localhost/shop?socket=/tmp/my%20dir/sock",
            "mysql://u@[::1]/",
            "sqlite:///a/b%20c.db",
            "sqlite:rel/x.db",
        ] {
            let u = parse(s).unwrap().url;
            assert_eq!(u.to_string(), s);
            assert_eq!(parse(&u.to_string()).unwrap().url, u);
        }
    }

    #[test]
    fn clear_errors() {
        let reason = |s: &str| parse(s).unwrap_err().reason;
        assert!(reason("postgres://u@h/d").contains("unsupported scheme `postgres`"));
        assert!(reason("just-a-file.db").contains("no scheme"));
        assert!(reason("mysql://h/d").contains("no user"));
        assert!(reason("mysql://u@h:abc/d").contains("port `abc`"));
        assert!(reason("mysql://u@h/d?ssl=1").contains("unknown parameter `ssl`"));
        assert!(reason("mysql://u@h/a/b").contains("not a database name"));
        assert!(reason("mysql://u@h/%zz").contains("hex digits"));
    }
}
