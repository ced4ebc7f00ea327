//! Registry users and their tokens. A token is 32 random bytes, base64url without padding,
//! prefixed `dsr_`; only its blake3 hash is stored. It is shown once, when it is made
//! (`devsky registry user add`, `user token`). Revoking a user's tokens
//! (`user revoke`) makes every request with them a 401.
//!
//! A token is looked up by its hash: 256 random bits cannot be guessed, so the lookup
//! needs no constant-time comparison and no rate limit.

use anyhow::{Context, bail};
use base64::Engine;
use serde::Serialize;

use super::now_ms;
use super::sql::{Sql, V};

/// A user, as the routes see the caller.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub login: String,
    pub root: bool,
}

/// A user, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub login: String,
    pub root: bool,
    pub created: i64,
    /// Tokens not revoked.
    pub live_tokens: i64,
}

/// A login: 1-39 lowercase letters, digits and '-' (not first), as on code forges; it is
/// part of update package names (`u_<login>.<app>`).
pub fn check_login(login: &str) -> anyhow::Result<()> {
    if login.is_empty()
        || login.len() > 39
        || login.starts_with('-')
        || !login
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        bail!("a login is 1-39 lowercase letters, digits or '-' (not first): {login:?}");
    }
    Ok(())
}

fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

fn new_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .context("cannot read /dev/urandom")?;
    Ok(format!(
        "dsr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    ))
}

/// Add user `login` (root with `root`); returns a first token.
pub async fn add(db: &dyn Sql, login: &str, root: bool) -> anyhow::Result<String> {
    check_login(login)?;
    let n = db
        .exec(
            "INSERT INTO users(login, root, created) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            vec![login.into(), V::I(root as i64), V::I(now_ms())],
        )
        .await?;
    if n == 0 {
        bail!("user {login} exists; `devsky registry user token {login}` makes a new token");
    }
    token(db, login).await
}

/// A new token for user `login`.
pub async fn token(db: &dyn Sql, login: &str) -> anyhow::Result<String> {
    let rows = db
        .query("SELECT id FROM users WHERE login = $1", vec![login.into()])
        .await?;
    let Some(id) = rows.first().map(|r| r[0].i()) else {
        bail!("no user {login}; see `devsky registry user list`");
    };
    let token = new_token()?;
    db.exec(
        "INSERT INTO tokens(user_id, hash, created) VALUES ($1, $2, $3)",
        vec![V::I(id), hash_token(&token).into(), V::I(now_ms())],
    )
    .await?;
    Ok(token)
}

/// Revoke every token of `login`; how many were live.
pub async fn revoke(db: &dyn Sql, login: &str) -> anyhow::Result<u64> {
    let rows = db
        .query("SELECT id FROM users WHERE login = $1", vec![login.into()])
        .await?;
    let Some(id) = rows.first().map(|r| r[0].i()) else {
        bail!("no user {login}; see `devsky registry user list`");
    };
    db.exec(
        "UPDATE tokens SET revoked = $1 WHERE user_id = $2 AND revoked IS NULL",
        vec![V::I(now_ms()), V::I(id)],
    )
    .await
}

pub async fn list(db: &dyn Sql) -> anyhow::Result<Vec<UserInfo>> {
    let rows = db
        .query(
            "SELECT u.login, u.root, u.created, \
               (SELECT COUNT(*) FROM tokens t WHERE t.user_id = u.id AND t.revoked IS NULL) \
             FROM users u ORDER BY u.login",
            vec![],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| UserInfo {
            login: r[0].t(),
            root: r[1].i() != 0,
            created: r[2].i(),
            live_tokens: r[3].i(),
        })
        .collect())
}

/// The user a live token belongs to.
pub async fn authenticate(db: &dyn Sql, token: &str) -> anyhow::Result<Option<User>> {
    if token.len() > 200 {
        return Ok(None);
    }
    let rows = db
        .query(
            "SELECT u.id, u.login, u.root FROM tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.hash = $1 AND t.revoked IS NULL",
            vec![hash_token(token).into()],
        )
        .await?;
    Ok(rows.first().map(|r| User {
        id: r[0].i(),
        login: r[1].t(),
        root: r[2].i() != 0,
    }))
}

/// The id of user `login`.
pub async fn id_of(db: &dyn Sql, login: &str) -> anyhow::Result<Option<i64>> {
    let rows = db
        .query("SELECT id FROM users WHERE login = $1", vec![login.into()])
        .await?;
    Ok(rows.first().map(|r| r[0].i()))
}
