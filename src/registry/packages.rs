//! The package routes of the registry: reserve (name + version -> SKY_ID, name
//! ownership), upload (checksum verified, versions immutable), download, yank/unyank,
//! owners, and the incremental index (changes since a cursor, with an ETag).
//!
//! Names: the first user to reserve a name owns it; the owners they add may publish too
//! (root may do anything). Update packages, named `u_<login>.<app>`, belong to no one:
//! anyone may publish versions of them. Every version is reserved first (that is where
//! its SKY_ID comes from), then uploaded once; after that only its `yanked` flag changes.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::blobs::{self, Refused};
use super::sql::{Sql, V};
use super::users::User;
use super::{ApiError, ApiResult, Shared, now_ms};

/// A package name: 1-64 lowercase letters, digits, `_`, `-`, `.`, starting with a letter
/// or digit, no `..`.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "bad package name {name:?}: 1-64 lowercase letters, digits, '_', '-' or '.', \
             starting with a letter or digit"
        )))
    }
}

/// A version: 1-64 letters, digits, `.`, `+`, `-`, starting with a digit (semver's
/// characters; the client resolves requirements).
pub fn check_version(v: &str) -> Result<(), ApiError> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.as_bytes()[0].is_ascii_digit()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'+' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "bad version {v:?}: 1-64 letters, digits, '.', '+' or '-', starting with a digit"
        )))
    }
}

/// Whether `name` is an update package (`u_<login>.<app>`), open to anyone.
pub fn is_update_name(name: &str) -> bool {
    name.strip_prefix("u_")
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(login, app)| !login.is_empty() && !app.is_empty())
}

/// The owner (first author) of `name` and the owners they added, as user ids.
async fn owners_of(db: &dyn Sql, name: &str) -> anyhow::Result<Option<(i64, Vec<i64>)>> {
    let rows = db
        .query(
            "SELECT owner_id FROM names WHERE name = $1",
            vec![name.into()],
        )
        .await?;
    let Some(owner) = rows.first().map(|r| r[0].i()) else {
        return Ok(None);
    };
    let more = db
        .query(
            "SELECT user_id FROM owners WHERE name = $1 ORDER BY user_id",
            vec![name.into()],
        )
        .await?;
    Ok(Some((owner, more.iter().map(|r| r[0].i()).collect())))
}

/// Whether `user` may publish and manage `name` (owner, added owner, root; anyone for an
/// update package). With `claim`, a name nobody has is taken for `user` first.
async fn may_publish(db: &dyn Sql, user: &User, name: &str, claim: bool) -> ApiResult<()> {
    if user.root || is_update_name(name) {
        return Ok(());
    }
    if claim {
        db.exec(
            "INSERT INTO names(name, owner_id, created) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            vec![name.into(), V::I(user.id), V::I(now_ms())],
        )
        .await?;
    }
    match owners_of(db, name).await? {
        Some((owner, more)) if owner == user.id || more.contains(&user.id) => Ok(()),
        Some(_) => Err(ApiError::forbidden(format!(
            "{name} belongs to another user: ask its owner to add you (`POST \
             /api/v1/owners/{name}`), or publish an update package u_{}.{name}",
            user.login
        ))),
        None => Err(ApiError::not_found(format!("no package {name}"))),
    }
}

/// A dependency of a version: a package name and a version requirement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dep {
    pub name: String,
    pub req: String,
}

#[derive(Debug, Deserialize)]
pub struct ReserveReq {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub depends: Vec<Dep>,
    /// An "in work" package: uploading it renews its author's claims on the package.
    #[serde(default)]
    pub in_work: bool,
}

/// `POST /api/v1/reserve`.
pub async fn reserve(
    State(reg): Shared,
    Extension(user): Extension<User>,
    Json(req): Json<ReserveReq>,
) -> ApiResult<Response> {
    check_name(&req.name)?;
    check_version(&req.version)?;
    if req.depends.len() > 1000 {
        return Err(ApiError::bad("more than 1000 dependencies"));
    }
    for d in &req.depends {
        check_name(&d.name)?;
        if d.req.is_empty() || d.req.len() > 100 || d.req.chars().any(|c| c.is_control()) {
            return Err(ApiError::bad(format!(
                "bad requirement {:?} for {}",
                d.req, d.name
            )));
        }
    }
    let db = reg.db.as_ref();
    may_publish(db, &user, &req.name, true).await?;
    let depends = serde_json::to_string(&req.depends).map_err(anyhow::Error::from)?;
    let rows = db
        .query(
            "INSERT INTO versions(name, version, reserved_by, reserved, depends, in_work) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
            vec![
                (&req.name).into(),
                (&req.version).into(),
                V::I(user.id),
                V::I(now_ms()),
                depends.into(),
                V::I(req.in_work as i64),
            ],
        )
        .await?;
    if let Some(r) = rows.first() {
        let body = json!({"name": req.name, "version": req.version, "sky_id": r[0].i()});
        return Ok((StatusCode::CREATED, Json(body)).into_response());
    }
    let v = version_row(db, &req.name, &req.version).await?;
    let mut e = ApiError::conflict(
        "version_taken",
        format!("{} {} is already reserved", req.name, req.version),
    );
    if let Some(v) = v {
        e = e
            .with("sky_id", json!(v.sky_id))
            .with("reserved_by", json!(v.reserved_by_login))
            .with("published", json!(v.checksum.is_some()));
    }
    Err(e)
}

/// A version as stored.
struct VersionRow {
    sky_id: i64,
    reserved_by: i64,
    reserved_by_login: String,
    in_work: bool,
    checksum: Option<String>,
}

async fn version_row(
    db: &dyn Sql,
    name: &str,
    version: &str,
) -> anyhow::Result<Option<VersionRow>> {
    let rows = db
        .query(
            "SELECT v.id, v.reserved_by, u.login, v.in_work, v.checksum FROM versions v \
             JOIN users u ON u.id = v.reserved_by WHERE v.name = $1 AND v.version = $2",
            vec![name.into(), version.into()],
        )
        .await?;
    Ok(rows.first().map(|r| VersionRow {
        sky_id: r[0].i(),
        reserved_by: r[1].i(),
        reserved_by_login: r[2].t(),
        in_work: r[3].i() != 0,
        checksum: r[4].opt_t(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    pub checksum: Option<String>,
    pub size: Option<u64>,
}

/// The next index cursor (call with [`super::Registry::index_lock`] held).
pub(super) async fn next_seq(db: &dyn Sql) -> anyhow::Result<i64> {
    let rows = db
        .query("SELECT COALESCE(MAX(seq), 0) FROM versions", vec![])
        .await?;
    Ok(rows.first().map(|r| r[0].i()).unwrap_or(0) + 1)
}

/// `PUT /api/v1/packages/{name}/{version}`: the archive's bytes, with its blake3 in
/// `?checksum=` or `X-Checksum-Blake3`.
pub async fn upload(
    State(reg): Shared,
    Extension(user): Extension<User>,
    Path((name, version)): Path<(String, String)>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    // A refusal before the body is read still reads (and drops) the body, as nginx does:
    // a server that answers early and closes leaves the client with a broken connection
    // instead of the answer.
    let (checksum, size, v) = match admit(&reg, &user, &name, &version, q, &headers).await {
        Ok(a) => a,
        Err(e) => {
            blobs::discard(body).await;
            return Err(e);
        }
    };
    let db = reg.db.as_ref();
    let got = match blobs::receive(&reg.data, body, &checksum, size).await? {
        Ok(n) => n,
        Err(Refused::Truncated { got, expected }) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "truncated",
                format!("the archive was cut: {got} of {expected} bytes arrived; nothing stored"),
            ));
        }
        Err(Refused::TooBig) => return Err(too_big()),
        Err(Refused::Mismatch { got }) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "checksum_mismatch",
                format!("the archive's blake3 is {got}, not {checksum}; nothing stored"),
            ));
        }
        Err(Refused::Read(e)) => {
            return Err(ApiError::bad(format!(
                "the upload broke off: {e}; nothing stored"
            )));
        }
    };
    if let Err(why) = check_header(&reg.data, &checksum, &name, &version, v.sky_id).await? {
        drop_blob_if_unused(db, &reg.data, &checksum).await?;
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "archive_mismatch",
            format!("{why}; nothing stored"),
        ));
    }
    let now = now_ms();
    let changed = {
        let _g = reg.index_lock.lock().await;
        let seq = next_seq(db).await?;
        db.exec(
            "UPDATE versions SET checksum = $1, size = $2, published = $3, seq = $4 \
             WHERE id = $5 AND checksum IS NULL",
            vec![
                (&checksum).into(),
                V::I(got as i64),
                V::I(now),
                V::I(seq),
                V::I(v.sky_id),
            ],
        )
        .await?
    };
    if changed == 0 {
        drop_blob_if_unused(db, &reg.data, &checksum).await?;
        return Err(ApiError::conflict(
            "immutable",
            format!("{name} {version} was published by another upload just now"),
        ));
    }
    let mut renewed = 0;
    if v.in_work {
        renewed = db
            .exec(
                "UPDATE claims SET expires = $1 WHERE user_id = $2 AND package = $3 \
                 AND expires > $4",
                vec![
                    V::I(now + reg.claim_ms),
                    V::I(user.id),
                    (&name).into(),
                    V::I(now),
                ],
            )
            .await?;
    }
    let body = json!({"name": name, "version": version, "sky_id": v.sky_id,
                      "checksum": checksum, "size": got, "claims_renewed": renewed});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Cross-check a stored upload with its URL: bytes that start as an archive (bzip2's
/// `BZh` or a plain `format ` header) must have a readable header, and a devsky header
/// must name this package and version and carry no other SKY_ID than the reservation's.
/// Other bytes are stored as they are (the registry keeps opaque archives too).
async fn check_header(
    data: &std::path::Path,
    checksum: &str,
    name: &str,
    version: &str,
    sky_id: i64,
) -> anyhow::Result<Result<(), String>> {
    use tokio::io::AsyncReadExt;
    // The header is at most 256 KiB, inside bzip2's first block (900 KiB, < 2 MiB packed).
    let mut head = Vec::new();
    tokio::fs::File::open(blobs::path(data, checksum))
        .await?
        .take(2 << 20)
        .read_to_end(&mut head)
        .await?;
    if !head.starts_with(b"BZh") && !head.starts_with(b"format ") {
        return Ok(Ok(()));
    }
    let h = match tokio::task::spawn_blocking(move || {
        crate::engine::packages::archive::read_header(&head)
    })
    .await?
    {
        Ok(h) => h,
        Err(e) => return Ok(Err(format!("the archive's header is not readable: {e}"))),
    };
    if !h.is_devsky() {
        return Ok(Ok(()));
    }
    if h.name != name || h.version != version {
        return Ok(Err(format!(
            "the archive is {} {}, not {name} {version}",
            h.name, h.version
        )));
    }
    if h.sky_id != 0 && h.sky_id != sky_id {
        return Ok(Err(format!(
            "the archive carries SKY_ID {}, the reservation is {sky_id}",
            h.sky_id
        )));
    }
    Ok(Ok(()))
}

fn too_big() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_big",
        format!(
            "an archive is at most {} MiB; nothing stored",
            blobs::MAX_SIZE >> 20
        ),
    )
}

async fn drop_blob_if_unused(
    db: &dyn Sql,
    data: &std::path::Path,
    checksum: &str,
) -> anyhow::Result<()> {
    let rows = db
        .query(
            "SELECT COUNT(*) FROM versions WHERE checksum = $1",
            vec![checksum.into()],
        )
        .await?;
    if rows.first().map(|r| r[0].i()).unwrap_or(0) == 0 {
        let _ = tokio::fs::remove_file(blobs::path(data, checksum)).await;
    }
    Ok(())
}

/// `GET /api/v1/packages/{name}/{version}`: the archive (yanked versions too, as in Cargo:
/// a lock file that pins one still builds).
pub async fn download(
    State(reg): Shared,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    check_name(&name)?;
    check_version(&version)?;
    let rows = reg
        .db
        .query(
            "SELECT checksum FROM versions WHERE name = $1 AND version = $2 \
             AND checksum IS NOT NULL",
            vec![(&name).into(), (&version).into()],
        )
        .await?;
    let Some(checksum) = rows.first().map(|r| r[0].t()) else {
        return Err(ApiError::not_found(format!(
            "{name} {version} is not published"
        )));
    };
    let f = tokio::fs::File::open(blobs::path(&reg.data, &checksum))
        .await
        .map_err(|e| anyhow::anyhow!("the archive of {name} {version} is missing: {e}"))?;
    let len = f.metadata().await.map_err(anyhow::Error::from)?.len();
    let mut r = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024))
        .into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, len.into());
    if let Ok(v) = HeaderValue::from_str(&checksum) {
        h.insert("x-checksum-blake3", v);
    }
    Ok(r)
}

/// `POST /api/v1/packages/{name}/{version}/yank`.
pub async fn yank(
    state: Shared,
    user: Extension<User>,
    path: Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    set_yanked(state, user, path, true).await
}

/// `POST /api/v1/packages/{name}/{version}/unyank`.
pub async fn unyank(
    state: Shared,
    user: Extension<User>,
    path: Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    set_yanked(state, user, path, false).await
}

async fn set_yanked(
    State(reg): Shared,
    Extension(user): Extension<User>,
    Path((name, version)): Path<(String, String)>,
    yanked: bool,
) -> ApiResult<Json<Value>> {
    check_name(&name)?;
    check_version(&version)?;
    let db = reg.db.as_ref();
    let Some(v) = version_row(db, &name, &version).await? else {
        return Err(ApiError::not_found(format!("no {name} {version}")));
    };
    if v.checksum.is_none() {
        return Err(ApiError::conflict(
            "not_published",
            format!("{name} {version} is not published"),
        ));
    }
    if !(is_update_name(&name) && v.reserved_by == user.id) {
        may_publish(db, &user, &name, false).await?;
        if is_update_name(&name) && !user.root {
            return Err(ApiError::forbidden(format!(
                "only {} (who published it) or root may yank {name} {version}",
                v.reserved_by_login
            )));
        }
    }
    let _g = reg.index_lock.lock().await;
    let seq = next_seq(db).await?;
    db.exec(
        "UPDATE versions SET yanked = $1, seq = $2 WHERE id = $3 AND yanked <> $1",
        vec![V::I(yanked as i64), V::I(seq), V::I(v.sky_id)],
    )
    .await?;
    Ok(Json(
        json!({"name": name, "version": version, "yanked": yanked}),
    ))
}

/// `GET /api/v1/owners/{name}`.
pub async fn list_owners(State(reg): Shared, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    check_name(&name)?;
    let db = reg.db.as_ref();
    let Some((owner, more)) = owners_of(db, &name).await? else {
        return Err(ApiError::not_found(format!("no package {name}")));
    };
    let mut logins = vec![];
    for id in std::iter::once(owner).chain(more) {
        let r = db
            .query("SELECT login FROM users WHERE id = $1", vec![V::I(id)])
            .await?;
        logins.extend(r.first().map(|r| r[0].t()));
    }
    Ok(Json(
        json!({"name": name, "owner": logins.first(), "owners": logins}),
    ))
}

#[derive(Debug, Deserialize)]
pub struct OwnerReq {
    pub login: String,
}

/// `POST /api/v1/owners/{name}`: the first author (or root) adds an owner.
pub async fn add_owner(
    State(reg): Shared,
    Extension(user): Extension<User>,
    Path(name): Path<String>,
    Json(req): Json<OwnerReq>,
) -> ApiResult<Json<Value>> {
    check_name(&name)?;
    let db = reg.db.as_ref();
    let Some((owner, _)) = owners_of(db, &name).await? else {
        return Err(ApiError::not_found(format!("no package {name}")));
    };
    if owner != user.id && !user.root {
        return Err(ApiError::forbidden(format!(
            "only the first author of {name} (or root) adds owners"
        )));
    }
    let Some(id) = super::users::id_of(db, &req.login).await? else {
        return Err(ApiError::not_found(format!("no user {}", req.login)));
    };
    db.exec(
        "INSERT INTO owners(name, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        vec![(&name).into(), V::I(id)],
    )
    .await?;
    list_owners(State(reg), Path(name)).await
}

/// The checks of an upload that need no body: name, version, checksum, size, and a
/// reservation of `user`'s that is not yet published.
async fn admit(
    reg: &super::Registry,
    user: &User,
    name: &str,
    version: &str,
    q: UploadQuery,
    headers: &HeaderMap,
) -> ApiResult<(String, Option<u64>, VersionRow)> {
    check_name(name)?;
    check_version(version)?;
    let checksum = q
        .checksum
        .or_else(|| {
            headers
                .get("x-checksum-blake3")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .ok_or_else(|| {
            ApiError::bad("the archive's blake3 is needed: ?checksum=HEX or X-Checksum-Blake3")
        })?
        .to_ascii_lowercase();
    if !blobs::is_checksum(&checksum) {
        return Err(ApiError::bad("a checksum is 64 hex digits (blake3)"));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let size = match (q.size, declared) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad(format!(
                "size={a} but Content-Length is {b}: the archive was cut"
            )));
        }
        (a, b) => a.or(b),
    };
    if size.is_some_and(|s| s > blobs::MAX_SIZE) {
        return Err(too_big());
    }
    let db = reg.db.as_ref();
    let Some(v) = version_row(db, name, version).await? else {
        return Err(ApiError::not_found(format!(
            "{name} {version} is not reserved: POST /api/v1/reserve first"
        )));
    };
    if v.checksum.is_some() {
        return Err(ApiError::conflict(
            "immutable",
            format!("{name} {version} is published already; versions never change"),
        ));
    }
    if v.reserved_by != user.id && !user.root {
        return Err(ApiError::forbidden(format!(
            "{name} {version} was reserved by {}",
            v.reserved_by_login
        )));
    }
    Ok((checksum, size, v))
}
