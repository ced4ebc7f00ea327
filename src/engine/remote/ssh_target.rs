//! Where and how to reach an agent over SSH ([`SshTarget`]), as kept in a server profile,
//! and the shell words that column is written in ([`sh_quote`], [`split_words`]).
//!
//! A server profile of transport `ssh` keeps its target in the `ssh` column as shell
//! words: `USER@HOST[:PORT]` first, then the extra ssh arguments (`--ssh-opt`), and
//! `--remote-bin=PATH` when the remote command is not `devsky`, and `--remote-db=URL` when
//! the agent reports on a database (`devsky agent --stdio --db URL`); the web root is in
//! `remote_root`. [`SshTarget::ssh_command`] makes the arguments of `ssh` that start the
//! agent ([`super::ssh`] runs them).

use anyhow::bail;

/// The remote command when none is configured.
pub const DEFAULT_REMOTE_BIN: &str = "devsky";

/// Where and how to reach an agent over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// `USER@HOST` or `HOST` (a host of ~/.ssh/config).
    pub destination: String,
    pub port: Option<u16>,
    /// Extra arguments for ssh, e.g. `-i KEY`, `-o Name=value`.
    pub ssh_args: Vec<String>,
    /// The devsky binary on the server.
    pub remote_bin: String,
    /// The web root on the server.
    pub root: String,
    /// The agent's `--db URL` (the database `GET /api/v1/database` reports on), if any.
    pub db: Option<String>,
}

impl SshTarget {
    /// `USER@HOST[:PORT]` (or `[V6]:PORT`).
    pub fn parse_destination(s: &str) -> anyhow::Result<(String, Option<u16>)> {
        let s = s.trim();
        let bad = || anyhow::anyhow!("--ssh {s}: not USER@HOST or USER@HOST:PORT");
        if s.is_empty() || s.starts_with('-') || s.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        let (user, hostport) = match s.rsplit_once('@') {
            Some((u, h)) if !u.is_empty() => (Some(u), h),
            Some(_) => return Err(bad()),
            None => (None, s),
        };
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (h, tail) = rest.split_once(']').ok_or_else(bad)?;
            match tail.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if tail.is_empty() => (h, None),
                None => return Err(bad()),
            }
        } else if hostport.matches(':').count() == 1 {
            let (h, p) = hostport.split_once(':').ok_or_else(bad)?;
            (h, Some(p))
        } else {
            (hostport, None)
        };
        if host.is_empty() {
            return Err(bad());
        }
        let port = match port {
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?),
            None => None,
        };
        let dest = match user {
            Some(u) => format!("{u}@{host}"),
            None => host.to_string(),
        };
        Ok((dest, port))
    }

    /// The target of a profile's `ssh` and `remote_root` columns.
    pub fn from_columns(ssh: &str, root: &str) -> anyhow::Result<SshTarget> {
        let words = split_words(ssh)?;
        let Some((first, rest)) = words.split_first() else {
            bail!("the server has no SSH destination");
        };
        let (destination, port) = SshTarget::parse_destination(first)?;
        let mut t = SshTarget {
            destination,
            port,
            ssh_args: Vec::new(),
            remote_bin: DEFAULT_REMOTE_BIN.into(),
            root: root.to_string(),
            db: None,
        };
        for w in rest {
            if let Some(b) = w.strip_prefix("--remote-bin=") {
                t.remote_bin = b.to_string();
            } else if let Some(d) = w.strip_prefix("--remote-db=") {
                t.db = Some(d.to_string());
            } else {
                t.ssh_args.push(w.clone());
            }
        }
        Ok(t)
    }

    /// The `ssh` column: destination, ssh arguments, remote binary, as shell words.
    pub fn ssh_column(&self) -> String {
        let mut words = vec![match self.port {
            Some(p) if self.destination.contains(':') => format!("[{}]:{p}", self.destination),
            Some(p) => format!("{}:{p}", self.destination),
            None => self.destination.clone(),
        }];
        words.extend(self.ssh_args.iter().cloned());
        if self.remote_bin != DEFAULT_REMOTE_BIN {
            words.push(format!("--remote-bin={}", self.remote_bin));
        }
        if let Some(d) = &self.db {
            words.push(format!("--remote-db={d}"));
        }
        words
            .iter()
            .map(|w| sh_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The arguments of `ssh` (after the program name).
    pub fn ssh_command(&self) -> Vec<String> {
        let mut a = self.ssh_args.clone();
        // After the user's options: for ssh the first value of an option wins.
        a.extend(
            [
                "-T",
                "-o",
                "ServerAliveInterval=15",
                "-o",
                "ServerAliveCountMax=3",
            ]
            .map(String::from),
        );
        if let Some(p) = self.port {
            a.push("-p".into());
            a.push(p.to_string());
        }
        a.push("--".into());
        a.push(self.destination.clone());
        let mut remote = format!(
            "{} agent --stdio --root {}",
            sh_quote(&self.remote_bin),
            sh_quote(&self.root)
        );
        if let Some(d) = &self.db {
            remote.push_str(&format!(" --db {}", sh_quote(d)));
        }
        a.push(remote);
        a
    }
}

/// A word for a POSIX shell (quoted when it needs to be).
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:@%+=,-~".contains(&b))
        && !s.starts_with('~')
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Split shell words: whitespace separates, '...' and "..." quote, \ escapes.
pub fn split_words(s: &str) -> anyhow::Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => bail!("unmatched ' in {s}"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => cur.push(c),
                            None => bail!("unmatched \" in {s}"),
                        },
                        Some(c) => cur.push(c),
                        None => bail!("unmatched \" in {s}"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let p = SshTarget::parse_destination;
        assert_eq!(p("deploy@web1").unwrap(), ("deploy@web1".into(), None));
        assert_eq!(
            p("deploy@web1:2222").unwrap(),
            ("deploy@web1".into(), Some(2222))
        );
        assert_eq!(p("[::1]:22").unwrap(), ("::1".into(), Some(22)));
        assert_eq!(p("web1").unwrap(), ("web1".into(), None));
        assert!(p("deploy@web1:x").is_err());
        assert!(p("-oProxyCommand=x").is_err());
        assert!(p("@web1").is_err());
    }

    #[test]
    fn columns_round_trip() {
        let t = SshTarget {
            destination: "me@host".into(),
            port: Some(2200),
            ssh_args: vec!["-i".into(), "/keys/my key".into()],
            remote_bin: "/opt/devsky bin/devsky".into(),
            root: "/var/www".into(),
            db: None,
        };
        let col = t.ssh_column();
        assert_eq!(SshTarget::from_columns(&col, "/var/www").unwrap(), t);
        let cmd = t.ssh_command();
        assert_eq!(
            cmd.last().unwrap(),
            "'/opt/devsky bin/devsky' agent --stdio --root /var/www"
        );
        let t = SshTarget {
            db: Some("mysql://app@localhost/shop?socket=/run/my sql.sock".into()),
            ..t
        };
        let col = t.ssh_column();
        assert_eq!(SshTarget::from_columns(&col, "/var/www").unwrap(), t);
        assert_eq!(
            t.ssh_command().last().unwrap(),
            "'/opt/devsky bin/devsky' agent --stdio --root /var/www \
             --db 'mysql://app@localhost/shop?socket=/run/my sql.sock'"
        );
        assert_eq!(
            split_words(r#"a 'b c' "d\"e" f\ g"#).unwrap(),
            ["a", "b c", "d\"e", "f g"]
        );
    }
}
