//! The deploy targets of a project: rows of `_dev_servers` in its store (name, environment,
//! HTTP agent or SSH destination, default flag), their keys (in `.devsky/secrets/<name>.key`
//! or an environment variable, never in the store), how an `https://` agent's certificate
//! is trusted (a CA or a pinned fingerprint, [`crate::engine::remote::tls`]), and where
//! packages are built.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::engine::deploy::plan::FileSet;
use crate::store::{STATE_DIR, Store};

/// A deploy target of the project (a row of `_dev_servers`).
#[derive(Debug, Clone, Serialize)]
pub struct ServerProfile {
    /// The record's id in `_dev_servers` (0 for a profile not stored yet).
    pub id: i64,
    pub name: String,
    /// `development`, `staging` or `production`.
    pub environment: String,
    /// `http` or `ssh`.
    pub transport: String,
    pub url: Option<String>,
    pub key_env: Option<String>,
    pub ssh: Option<String>,
    pub remote_root: Option<String>,
    pub is_default: bool,
    /// Seconds since the Unix epoch.
    pub created: i64,
    /// For `https://`: the PEM text of the CA to trust instead of the system's roots.
    pub tls_ca: Option<String>,
    /// For `https://`: the pinned SHA-256 fingerprint of the agent's certificate.
    pub tls_fingerprint: Option<String>,
    /// What a deploy covers: only these globs when not empty (see [`FileSet`]).
    pub include: Vec<String>,
    /// What a deploy leaves out, besides what `.devskyignore` files leave out.
    pub exclude: Vec<String>,
    /// The transport's own settings (git: [`super::git::GitOptions`]); never a secret.
    pub options: serde_json::Value,
}

impl ServerProfile {
    /// What a deploy to this server covers.
    pub fn files(&self) -> FileSet {
        FileSet {
            include: self.include.clone(),
            exclude: self.exclude.clone(),
        }
    }

    /// How the client trusts this server's certificate.
    pub fn trust(&self) -> crate::engine::remote::tls::Trust {
        crate::engine::remote::tls::Trust {
            ca_pem: self.tls_ca.clone(),
            fingerprint: self.tls_fingerprint.clone(),
        }
    }

    /// How the client trusts the certificate, for people.
    pub fn trust_text(&self) -> String {
        match (&self.url, &self.tls_fingerprint, &self.tls_ca) {
            (Some(u), _, _) if !u.to_ascii_lowercase().starts_with("https://") => {
                "none (plain http)".into()
            }
            (None, _, _) => "-".into(),
            (_, Some(fp), _) => format!("pinned SHA-256 fingerprint {fp}"),
            (_, None, Some(_)) => "the server's CA (stored)".into(),
            (_, None, None) => "the system's roots".into(),
        }
    }
}

pub const ENVIRONMENTS: &[&str] = &["development", "staging", "production"];

/// Where the key of server `name` is kept: `.devsky/secrets/<name>.key`.
pub fn key_file(project_root: &Path, name: &str) -> PathBuf {
    project_root
        .join(STATE_DIR)
        .join("secrets")
        .join(format!("{name}.key"))
}

/// A server name usable as a file name.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        || name.starts_with('.')
    {
        bail!("a server name is 1-64 letters, digits, '-', '_' or '.' (not starting with '.')");
    }
    Ok(())
}

/// Write the key of server `name` (mode 0600, in a 0700 folder).
pub fn store_key(project_root: &Path, name: &str, key: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = key_file(project_root, name);
    let dir = path.parent().context("no secrets folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let tmp = dir.join(format!(".{name}.key.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(key.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

const SELECT: &str = "SELECT name, environment, transport, url, key_env, ssh, remote_root, \
                      is_default, created, tls_ca, tls_fingerprint, include, exclude, id, \
                      options FROM _dev_servers";

fn globs(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn to_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<ServerProfile> {
    Ok(ServerProfile {
        id: r.get(13)?,
        name: r.get(0)?,
        environment: r.get(1)?,
        transport: r.get(2)?,
        url: r.get(3)?,
        key_env: r.get(4)?,
        ssh: r.get(5)?,
        remote_root: r.get(6)?,
        is_default: r.get::<_, i64>(7)? != 0,
        created: r.get(8)?,
        tls_ca: r.get(9)?,
        tls_fingerprint: r.get(10)?,
        include: globs(&r.get::<_, String>(11)?),
        exclude: globs(&r.get::<_, String>(12)?),
        options: serde_json::from_str(&r.get::<_, String>(14)?).unwrap_or(serde_json::Value::Null),
    })
}

pub fn list_servers(store: &Store) -> anyhow::Result<Vec<ServerProfile>> {
    let mut st = store.conn().prepare(&format!("{SELECT} ORDER BY name"))?;
    let rows = st.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get_server(store: &Store, name: &str) -> anyhow::Result<ServerProfile> {
    use rusqlite::OptionalExtension;
    store
        .conn()
        .query_row(&format!("{SELECT} WHERE name = ?1"), [name], row)
        .optional()?
        .with_context(|| format!("no server named {name}; see `devsky server list`"))
}

pub fn add_server(store: &mut Store, p: &ServerProfile) -> anyhow::Result<()> {
    store.write(|tx| {
        let n: i64 = tx.query_row(
            "SELECT COUNT(*) FROM _dev_servers WHERE name = ?1",
            [&p.name],
            |r| r.get(0),
        )?;
        if n > 0 {
            bail!(
                "a server named {} exists; remove it first (`devsky server remove {}`)",
                p.name,
                p.name
            );
        }
        if p.is_default {
            tx.execute("UPDATE _dev_servers SET is_default = 0", [])?;
        }
        tx.execute(
            "INSERT INTO _dev_servers(name, environment, transport, url, key_env, ssh, \
             remote_root, is_default, created, tls_ca, tls_fingerprint, include, exclude, \
             options) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            rusqlite::params![
                p.name,
                p.environment,
                p.transport,
                p.url,
                p.key_env,
                p.ssh,
                p.remote_root,
                i64::from(p.is_default),
                p.created,
                p.tls_ca,
                p.tls_fingerprint,
                to_json(&p.include),
                to_json(&p.exclude),
                if p.options.is_object() {
                    p.options.to_string()
                } else {
                    "{}".to_string()
                }
            ],
        )?;
        Ok(())
    })
}

/// The server named `name`, or the default one (the one marked default, or the only one).
/// Change what a deploy to server `name` covers (see [`FileSet`]); the globs are checked.
pub fn set_files(store: &mut Store, name: &str, files: &FileSet) -> anyhow::Result<()> {
    files.filter()?;
    get_server(store, name)?;
    store.write(|tx| {
        tx.execute(
            "UPDATE _dev_servers SET include = ?2, exclude = ?3 WHERE name = ?1",
            rusqlite::params![name, to_json(&files.include), to_json(&files.exclude)],
        )?;
        Ok(())
    })
}

pub fn pick_server(store: &Store, name: Option<&str>) -> anyhow::Result<ServerProfile> {
    if let Some(n) = name {
        return get_server(store, n);
    }
    let all = list_servers(store)?;
    if let Some(p) = all.iter().find(|p| p.is_default) {
        return Ok(p.clone());
    }
    match all.len() {
        1 => Ok(all[0].clone()),
        0 => bail!("no servers yet: `devsky server add NAME --url URL --key KEY`"),
        _ => bail!("which server? Name one (see `devsky server list`) or add one with --default"),
    }
}

/// Remove a server and its key file; false when there was none.
pub fn remove_server(store: &mut Store, project_root: &Path, name: &str) -> anyhow::Result<bool> {
    let n =
        store.write(|tx| Ok(tx.execute("DELETE FROM _dev_servers WHERE name = ?1", [name])?))?;
    let _ = std::fs::remove_file(key_file(project_root, name));
    if n > 0 {
        // A Git target's clone and its state: a server added again under this name
        // starts afresh.
        let _ = std::fs::remove_dir_all(super::git::git_dir(project_root, name));
    }
    Ok(n > 0)
}

/// Where the key of `p` comes from, for people (never the key).
pub fn key_source(project_root: &Path, p: &ServerProfile) -> String {
    match &p.key_env {
        _ if p.transport == "ssh" => "none (SSH authenticates)".into(),
        None if p.transport == "git" && !key_file(project_root, &p.name).is_file() => {
            "none (no token)".into()
        }
        Some(v) => format!("environment variable {v}"),
        None if key_file(project_root, &p.name).is_file() => "stored".into(),
        None if p.transport == "sftp" => "none (ssh keys authenticate)".into(),
        None => "missing".into(),
    }
}

/// The key of `p`: from its environment variable or its key file.
pub fn load_key(project_root: &Path, p: &ServerProfile) -> anyhow::Result<String> {
    if let Some(v) = &p.key_env {
        return std::env::var(v).with_context(|| {
            format!(
                "the API key of {} is read from ${v}, which is not set",
                p.name
            )
        });
    }
    let path = key_file(project_root, &p.name);
    let k = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no API key for {} ({} is missing); add the server again with --key",
            p.name,
            path.display()
        )
    })?;
    Ok(k.trim().to_string())
}

/// Where the project's update packages are built (`.devsky/deploy`, never deployed).
pub fn package_dir(project_root: &Path) -> PathBuf {
    project_root.join(STATE_DIR).join("deploy")
}

/// The agent's policy as `/status` reports it (`production, release mode`), if it does.
pub fn policy_text(status: &serde_json::Value) -> Option<String> {
    let mode = status["mode"].as_str()?;
    Some(format!(
        "{}, {}",
        status["environment"]
            .as_str()
            .unwrap_or("environment not set"),
        if mode == "release" {
            "release mode"
        } else {
            "files in place"
        }
    ))
}
