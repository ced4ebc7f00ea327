//! Database profiles: named connections kept in the store's `_dev_db_profiles` (name,
//! kind, URL without password, the environment variable that holds the password).
//!
//! Passwords are never stored. [`connect`] finds one, in order: the variable the profile
//! names (by default `DEVSKY_DB_PASSWORD_<NAME>`, then `MYSQL_PWD`), the `[client]`
//! section of `~/.my.cnf` (`$HOME`), else none (socket authentication). When the server
//! refuses and the caller gave a prompt (the TUI asks the user), it retries once with the
//! prompt's answer. No error message ever contains a password.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::mysql::{ConnectError, MysqlDb};
use super::sqlite::SqliteDb;
use super::url::{self, DbUrl};
use super::{Db, Kind};
use crate::store::Store;

/// A saved connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub name: String,
    pub kind: Kind,
    #[serde(serialize_with = "as_text")]
    pub url: DbUrl,
    /// The environment variable that holds the password (None: the default ones).
    pub password_env: Option<String>,
    pub created: i64,
}

fn as_text<S: serde::Serializer>(u: &DbUrl, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(u)
}

/// What [`add`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub profile: Profile,
    /// The URL carried a password; it was dropped, not stored.
    pub password_dropped: bool,
}

/// Where a password came from (for messages; never the password itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env(String),
    MyCnf(PathBuf),
    Prompt,
    None,
}

impl std::fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordSource::Env(v) => write!(f, "the password from ${v}"),
            PasswordSource::MyCnf(p) => write!(f, "the password from {}", p.display()),
            PasswordSource::Prompt => write!(f, "the password typed in"),
            PasswordSource::None => write!(f, "no password"),
        }
    }
}

/// Profile names: letters, digits, `_` and `-`, starting with a letter or digit.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        bail!("`{name}` is not a usable profile name: use letters, digits, `_` and `-` (up to 64)");
    }
    Ok(())
}

/// The variable a profile's password is read from when it names none.
pub fn default_password_env(name: &str) -> String {
    format!(
        "DEVSKY_DB_PASSWORD_{}",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// Save a new profile. A password in `url` is dropped (see [`Added::password_dropped`]).
pub fn add(
    store: &Store,
    name: &str,
    url: &str,
    password_env: Option<&str>,
) -> anyhow::Result<Added> {
    check_name(name)?;
    if let Some(v) = password_env {
        let ok = v.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            bail!("`{v}` is not an environment variable name");
        }
    }
    let parsed = url::parse(url)?;
    if get(store, name)?.is_some() {
        bail!(
            "a database profile named `{name}` exists; remove it first (`devsky db remove {name}`)"
        );
    }
    let profile = Profile {
        name: name.to_string(),
        kind: parsed.url.kind(),
        url: parsed.url,
        password_env: password_env.map(str::to_string),
        created: crate::store::now(),
    };
    store.conn().execute(
        "INSERT INTO _dev_db_profiles(name, kind, url, password_env, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            profile.name,
            kind_text(profile.kind),
            profile.url.to_string(),
            profile.password_env,
            profile.created
        ],
    )?;
    Ok(Added {
        profile,
        password_dropped: parsed.password.is_some(),
    })
}

fn kind_text(k: Kind) -> &'static str {
    match k {
        Kind::Mysql => "mysql",
        Kind::Sqlite => "sqlite",
    }
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<(String, String, Option<String>, i64)> {
    Ok((r.get(0)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn build(
    (name, url, password_env, created): (String, String, Option<String>, i64),
) -> anyhow::Result<Profile> {
    let parsed = url::parse(&url).with_context(|| format!("database profile `{name}`"))?;
    Ok(Profile {
        name,
        kind: parsed.url.kind(),
        url: parsed.url,
        password_env,
        created,
    })
}

/// One profile by name.
pub fn get(store: &Store, name: &str) -> anyhow::Result<Option<Profile>> {
    let row = store
        .conn()
        .query_row(
            "SELECT name, kind, url, password_env, created FROM _dev_db_profiles WHERE name = ?1",
            [name],
            from_row,
        )
        .optional()?;
    row.map(build).transpose()
}

/// All profiles, sorted by name.
pub fn list(store: &Store) -> anyhow::Result<Vec<Profile>> {
    let mut stmt = store.conn().prepare(
        "SELECT name, kind, url, password_env, created FROM _dev_db_profiles ORDER BY name",
    )?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(build).collect()
}

/// Remove a profile; false when there was none.
pub fn remove(store: &Store, name: &str) -> anyhow::Result<bool> {
    Ok(store
        .conn()
        .execute("DELETE FROM _dev_db_profiles WHERE name = ?1", [name])?
        > 0)
}

/// The password for `profile` from the environment or `~/.my.cnf`, looked up through
/// `env` (the process environment in [`resolve_password`]).
pub fn resolve_password_with(
    profile: &Profile,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Option<String>, PasswordSource) {
    let vars = match &profile.password_env {
        Some(v) => vec![v.clone()],
        None => vec![default_password_env(&profile.name), "MYSQL_PWD".to_string()],
    };
    for v in vars {
        if let Some(p) = env(&v).filter(|p| !p.is_empty()) {
            return (Some(p), PasswordSource::Env(v));
        }
    }
    if let Some(home) = env("HOME").filter(|h| !h.is_empty()) {
        let path = Path::new(&home).join(".my.cnf");
        if let Some(p) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| mycnf_password(&t))
        {
            return (Some(p), PasswordSource::MyCnf(path));
        }
    }
    (None, PasswordSource::None)
}

/// The password for `profile` from the process environment or `~/.my.cnf`.
pub fn resolve_password(profile: &Profile) -> (Option<String>, PasswordSource) {
    resolve_password_with(profile, &|k| std::env::var(k).ok())
}

/// `password` of the `[client]` section of a my.cnf text (quotes removed).
pub fn mycnf_password(text: &str) -> Option<String> {
    let mut in_client = false;
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_client = section.trim().eq_ignore_ascii_case("client");
            continue;
        }
        if !in_client {
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        if k.trim().eq_ignore_ascii_case("password") {
            let v = v.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| v.strip_prefix(*q).and_then(|x| x.strip_suffix(*q)));
            let v = match unquoted {
                Some(x) => x.to_string(),
                None => v.split(" #").next().unwrap_or(v).trim().to_string(),
            };
            found = Some(v);
        }
    }
    found.filter(|p| !p.is_empty())
}

/// Open a connection for `url` (SQLite paths relative to `project_root`).
pub fn open_url(
    project_root: &Path,
    url: &DbUrl,
    password: Option<&str>,
) -> anyhow::Result<Box<dyn Db>> {
    match url {
        DbUrl::Sqlite { .. } => {
            let path = url.sqlite_path(project_root).expect("sqlite url");
            Ok(Box::new(SqliteDb::open(&path)?))
        }
        DbUrl::Mysql { .. } => Ok(Box::new(MysqlDb::connect(url, password)?)),
    }
}

/// Connect to the profile `name`. `prompt` (the UI's password question) is asked only
/// when the server refuses the password found elsewhere, or the lack of one.
pub fn connect(
    project_root: &Path,
    store: &Store,
    name: &str,
    prompt: Option<&dyn Fn() -> Option<String>>,
) -> anyhow::Result<Box<dyn Db>> {
    let profile = get(store, name)?.with_context(|| {
        format!("no database profile named `{name}` (see `devsky db list`, add one with `devsky db add`)")
    })?;
    if profile.kind == Kind::Sqlite {
        return open_url(project_root, &profile.url, None);
    }
    let (password, source) = resolve_password(&profile);
    match MysqlDb::connect(&profile.url, password.as_deref()) {
        Ok(db) => Ok(Box::new(db)),
        Err(ConnectError {
            access_denied: true,
            ..
        }) if prompt.is_some() => {
            let typed = prompt.and_then(|p| p()).context("no password given")?;
            MysqlDb::connect(&profile.url, Some(&typed))
                .map(|db| Box::new(db) as Box<dyn Db>)
                .map_err(|e| anyhow::anyhow!("{} (with {})", e.message, PasswordSource::Prompt))
        }
        Err(e) if e.access_denied => Err(anyhow::anyhow!(
            "{} (tried {source}; set ${} or add it to ~/.my.cnf [client])",
            e.message,
            profile
                .password_env
                .clone()
                .unwrap_or_else(|| default_password_env(&profile.name))
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_project(dir.path(), true).unwrap();
        (dir, s)
    }

    #[test]
    fn add_get_list_remove() {
        let (_d, s) = store();
        let a = add(&s, "shop", "mysql://app:hunter2@db:3306/shop", None).unwrap();
        assert!(a.password_dropped);
        assert_eq!(a.profile.url.to_string(), "mysql://app@db:3306/shop");
        let raw: String = s
            .conn()
            .query_row("SELECT url FROM _dev_db_profiles", [], |r| r.get(0))
            .unwrap();
        assert!(!raw.contains("hunter2"), "{raw}");
        add(&s, "app-lite", "sqlite:var/app.db", Some("MY_PW")).unwrap();
        assert!(
            add(&s, "shop", "sqlite:x.db", None)
                .unwrap_err()
                .to_string()
                .contains("exists")
        );
        assert!(add(&s, "bad name", "sqlite:x.db", None).is_err());
        assert!(add(&s, "x", "sqlite:x.db", Some("1BAD")).is_err());
        let names: Vec<String> = list(&s).unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["app-lite", "shop"]);
        let p = get(&s, "app-lite").unwrap().unwrap();
        assert_eq!(
            (p.kind, p.password_env.as_deref()),
            (Kind::Sqlite, Some("MY_PW"))
        );
        assert!(remove(&s, "shop").unwrap());
        assert!(!remove(&s, "shop").unwrap());
        assert!(get(&s, "shop").unwrap().is_none());
    }

    #[test]
    fn password_order() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_string_lossy().into_owned();
        std::fs::write(
            home.path().join(".my.cnf"),
            "[mysql]\npassword=nope\n[client]\nuser = me\npassword = \"from cnf\"\n",
        )
        .unwrap();
        let p = |env: Option<&str>| Profile {
            name: "my-shop".into(),
            kind: Kind::Mysql,
            url: url::parse("mysql://u@h/d").unwrap().url,
            password_env: env.map(Into::into),
            created: 0,
        };
        let vars = |pairs: Vec<(&'static str, String)>| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        };
        let all = vars(vec![
            ("DEVSKY_DB_PASSWORD_MY_SHOP", "a".into()),
            ("MYSQL_PWD", "b".into()),
            ("HOME", h.clone()),
        ]);
        assert_eq!(
            resolve_password_with(&p(None), &all).0.as_deref(),
            Some("a")
        );
        let no_default = vars(vec![("MYSQL_PWD", "b".into()), ("HOME", h.clone())]);
        assert_eq!(
            resolve_password_with(&p(None), &no_default),
            (Some("b".into()), PasswordSource::Env("MYSQL_PWD".into()))
        );
        // A profile's own variable replaces the defaults; unset, ~/.my.cnf [client] answers.
        let (pw, src) = resolve_password_with(&p(Some("SHOP_PW")), &no_default);
        assert_eq!(pw.as_deref(), Some("from cnf"));
        assert_eq!(src, PasswordSource::MyCnf(home.path().join(".my.cnf")));
        assert!(!src.to_string().contains("from cnf"));
        let nothing = vars(vec![("HOME", "/nonexistent".into())]);
        assert_eq!(
            resolve_password_with(&p(None), &nothing),
            (None, PasswordSource::None)
        );
    }

    #[test]
    fn mycnf_forms() {
        assert_eq!(
            mycnf_password("[client]\npassword=abc\n").as_deref(),
            Some("abc")
        );
        assert_eq!(
            mycnf_password("[client]\npassword = 'a b' \n").as_deref(),
            Some("a b")
        );
        assert_eq!(
            mycnf_password("[client]\npassword = x # note\n").as_deref(),
            Some("x")
        );
        assert_eq!(mycnf_password("[mysqld]\npassword=abc\n"), None);
        assert_eq!(mycnf_password("# password=abc\n[client]\nuser=a\n"), None);
    }

    #[test]
    fn connect_errors_never_show_the_password() {
        let (dir, s) = store();
        let sock = dir.path().join("no.sock");
        let u = format!(
            "mysql://app:pw-s3cr3t-981@localhost/shop?socket={}",
            sock.display()
        );
        let parsed = url::parse(&u).unwrap();
        let e = open_url(dir.path(), &parsed.url, parsed.password.as_deref())
            .err()
            .unwrap();
        let text = format!("{e:#} {e:?}");
        assert!(!text.contains("pw-s3cr3t-981"), "{text}");
        assert!(text.contains("app@localhost"), "{text}");
        add(&s, "gone", &u, Some("DEVSKY_TEST_NEVER_SET_1")).unwrap();
        let e = connect(dir.path(), &s, "gone", None).err().unwrap();
        assert!(!format!("{e:#} {e:?}").contains("pw-s3cr3t-981"));
        let e = connect(dir.path(), &s, "missing", None).err().unwrap();
        assert!(
            e.to_string()
                .contains("no database profile named `missing`")
        );
        add(&s, "lite", "sqlite:none.db", None).unwrap();
        let e = connect(dir.path(), &s, "lite", None).err().unwrap();
        assert!(e.to_string().contains("no SQLite database"), "{e}");
    }
}
