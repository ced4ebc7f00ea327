//! Claims and release snapshots.
//!
//! Claims are shaped like Git LFS locks: a record (any id the client uses, such as
//! `f:app/index.php` or a SKY_ID) is "taken into work" by one user until it expires
//! ([`super::Registry::claim_ms`], 3 days by default; uploading an "in work" package renews its author's
//! claims on that package). Create answers 409 with the existing claim when someone else
//! holds it; verify sorts a set of records into ours and theirs; release is for the holder,
//! or forced by an owner of the claim's package (or root). An expired claim is as good as
//! none.
//!
//! A release snapshot is an immutable named set of exact (package, version, checksum).

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::packages::{check_name, check_version};
use super::sql::{Row, Sql, V};
use super::users::User;
use super::{ApiError, ApiResult, Shared, now_ms};

/// A live claim.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    pub record: String,
    pub package: Option<String>,
    pub owner: String,
    pub created: i64,
    pub expires: i64,
    #[serde(skip)]
    user_id: i64,
}

const SELECT: &str = "SELECT c.record, c.package, u.login, c.created, c.expires, c.user_id \
                      FROM claims c JOIN users u ON u.id = c.user_id";

fn claim(r: &Row) -> Claim {
    Claim {
        record: r[0].t(),
        package: r[1].opt_t(),
        owner: r[2].t(),
        created: r[3].i(),
        expires: r[4].i(),
        user_id: r[5].i(),
    }
}

fn check_record(record: &str) -> Result<(), ApiError> {
    if record.is_empty() || record.len() > 512 || record.chars().any(char::is_control) {
        return Err(ApiError::bad(format!(
            "bad record id {record:?}: 1-512 characters, no control characters"
        )));
    }
    Ok(())
}

async fn live_claim(db: &dyn Sql, record: &str, now: i64) -> anyhow::Result<Option<Claim>> {
    let rows = db
        .query(
            &format!("{SELECT} WHERE c.record = $1 AND c.expires > $2"),
            vec![record.into(), V::I(now)],
        )
        .await?;
    Ok(rows.first().map(claim))
}

#[derive(Debug, Deserialize)]
pub struct ClaimReq {
    pub record: String,
    pub package: Option<String>,
}

/// `POST /api/v1/claims`: 201 with the new claim; 200 with ours renewed; 409 with the
/// existing claim when someone else holds it.
pub async fn create(
    State(reg): Shared,
    Extension(user): Extension<User>,
    Json(req): Json<ClaimReq>,
) -> ApiResult<Response> {
    check_record(&req.record)?;
    if let Some(p) = &req.package {
        check_name(p)?;
    }
    let db = reg.db.as_ref();
    let now = now_ms();
    db.exec(
        "DELETE FROM claims WHERE record = $1 AND expires <= $2",
        vec![(&req.record).into(), V::I(now)],
    )
    .await?;
    let package = req.package.clone().map_or(V::Null, V::T);
    let sql = if package == V::Null {
        "INSERT INTO claims(record, user_id, created, expires) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING RETURNING record"
    } else {
        "INSERT INTO claims(record, user_id, created, expires, package) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING record"
    };
    let mut params = vec![
        (&req.record).into(),
        V::I(user.id),
        V::I(now),
        V::I(now + reg.claim_ms),
    ];
    if package != V::Null {
        params.push(package);
    }
    let inserted = !db.query(sql, params).await?.is_empty();
    let Some(c) = live_claim(db, &req.record, now).await? else {
        return Err(ApiError::conflict(
            "retry",
            "the claim changed while it was made; try again",
        ));
    };
    if inserted {
        return Ok((StatusCode::CREATED, Json(json!({"claim": c}))).into_response());
    }
    if c.user_id == user.id {
        db.exec(
            "UPDATE claims SET expires = $1 WHERE record = $2 AND user_id = $3",
            vec![
                V::I(now + reg.claim_ms),
                (&req.record).into(),
                V::I(user.id),
            ],
        )
        .await?;
        let c = live_claim(db, &req.record, now).await?;
        return Ok((StatusCode::OK, Json(json!({"claim": c}))).into_response());
    }
    Err(ApiError::conflict(
        "claimed",
        format!(
            "{} is taken into work by {} until {}",
            c.record,
            c.owner,
            crate::engine::util::units::rfc3339(c.expires)
        ),
    )
    .with("claim", json!(c)))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub package: Option<String>,
    pub owner: Option<String>,
}

/// `GET /api/v1/claims[?package=P][&owner=LOGIN]`: the live claims.
pub async fn list(State(reg): Shared, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let rows = reg
        .db
        .query(
            &format!("{SELECT} WHERE c.expires > $1 ORDER BY c.record"),
            vec![V::I(now_ms())],
        )
        .await?;
    let claims: Vec<Claim> = rows
        .iter()
        .map(claim)
        .filter(|c| {
            q.package
                .as_ref()
                .is_none_or(|p| c.package.as_ref() == Some(p))
        })
        .filter(|c| q.owner.as_ref().is_none_or(|o| &c.owner == o))
        .collect();
    Ok(Json(json!({"claims": claims})))
}

#[derive(Debug, Deserialize)]
pub struct VerifyReq {
    /// The records to look at (all live claims when absent).
    pub records: Option<Vec<String>>,
}

/// `POST /api/v1/claims/verify`: the live claims among `records`, as ours and theirs.
pub async fn verify(
    State(reg): Shared,
    Extension(user): Extension<User>,
    Json(req): Json<VerifyReq>,
) -> ApiResult<Json<Value>> {
    if req.records.as_ref().is_some_and(|r| r.len() > 100_000) {
        return Err(ApiError::bad("at most 100000 records at once"));
    }
    let rows = reg
        .db
        .query(
            &format!("{SELECT} WHERE c.expires > $1 ORDER BY c.record"),
            vec![V::I(now_ms())],
        )
        .await?;
    let wanted: Option<std::collections::HashSet<&String>> =
        req.records.as_ref().map(|r| r.iter().collect());
    let (ours, theirs): (Vec<Claim>, Vec<Claim>) = rows
        .iter()
        .map(claim)
        .filter(|c| wanted.as_ref().is_none_or(|w| w.contains(&c.record)))
        .partition(|c| c.user_id == user.id);
    Ok(Json(json!({"ours": ours, "theirs": theirs})))
}

#[derive(Debug, Deserialize)]
pub struct ReleaseQuery {
    #[serde(default)]
    pub force: bool,
}

/// `DELETE /api/v1/claims/{record}[?force=true]`.
pub async fn release(
    State(reg): Shared,
    Extension(user): Extension<User>,
    Path(record): Path<String>,
    Query(q): Query<ReleaseQuery>,
) -> ApiResult<Json<Value>> {
    check_record(&record)?;
    let db = reg.db.as_ref();
    let Some(c) = live_claim(db, &record, now_ms()).await? else {
        return Err(ApiError::not_found(format!("{record} is not claimed")));
    };
    if c.user_id != user.id {
        if !q.force {
            return Err(ApiError::forbidden(format!(
                "{record} is claimed by {}; an owner of its package may release it with \
                 ?force=true",
                c.owner
            ))
            .with("claim", json!(c)));
        }
        let owner = match &c.package {
            Some(p) => !db
                .query(
                    "SELECT 1 FROM names n WHERE n.name = $1 AND (n.owner_id = $2 OR EXISTS \
                     (SELECT 1 FROM owners o WHERE o.name = n.name AND o.user_id = $2))",
                    vec![p.into(), V::I(user.id)],
                )
                .await?
                .is_empty(),
            None => false,
        };
        if !owner && !user.root {
            return Err(ApiError::forbidden(format!(
                "only an owner of {} (or root) may force the release of {record}, claimed by {}",
                c.package.as_deref().unwrap_or("its package"),
                c.owner
            ))
            .with("claim", json!(c)));
        }
    }
    db.exec(
        "DELETE FROM claims WHERE record = $1 AND user_id = $2",
        vec![(&record).into(), V::I(c.user_id)],
    )
    .await?;
    Ok(Json(json!({"released": c, "forced": c.user_id != user.id})))
}

/// One pinned package of a release snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pin {
    pub name: String,
    pub version: String,
    /// Optional on the way in (then the registry's is taken); checked when given.
    #[serde(default)]
    pub checksum: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ReleaseReq {
    pub name: String,
    pub packages: Vec<Pin>,
}

/// `POST /api/v1/releases`: 201 with the snapshot; 409 when the name is taken.
pub async fn create_release(
    State(reg): Shared,
    Extension(user): Extension<User>,
    Json(req): Json<ReleaseReq>,
) -> ApiResult<Response> {
    check_name(&req.name)?;
    if req.packages.is_empty() || req.packages.len() > 10_000 {
        return Err(ApiError::bad("a release pins 1-10000 packages"));
    }
    let db = reg.db.as_ref();
    let mut seen = std::collections::HashSet::new();
    let mut items = vec![];
    for p in &req.packages {
        check_name(&p.name)?;
        check_version(&p.version)?;
        if !seen.insert(p.name.clone()) {
            return Err(ApiError::bad(format!("{} is pinned twice", p.name)));
        }
        let rows = db
            .query(
                "SELECT checksum, yanked FROM versions WHERE name = $1 AND version = $2 \
                 AND checksum IS NOT NULL",
                vec![(&p.name).into(), (&p.version).into()],
            )
            .await?;
        let Some(r) = rows.first() else {
            return Err(ApiError::bad(format!(
                "{} {} is not published",
                p.name, p.version
            )));
        };
        let (sum, yanked) = (r[0].t(), r[1].i() != 0);
        if yanked {
            return Err(ApiError::bad(format!(
                "{} {} is yanked: a new release cannot pin it",
                p.name, p.version
            )));
        }
        if p.checksum
            .as_ref()
            .is_some_and(|c| !c.eq_ignore_ascii_case(&sum))
        {
            return Err(ApiError::conflict(
                "checksum_mismatch",
                format!("{} {} has checksum {sum}", p.name, p.version),
            ));
        }
        items.push(Pin {
            name: p.name.clone(),
            version: p.version.clone(),
            checksum: Some(sum),
        });
    }
    let text = serde_json::to_string(&items).map_err(anyhow::Error::from)?;
    let now = now_ms();
    let inserted = db
        .query(
            "INSERT INTO releases(name, created_by, created, items) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING RETURNING name",
            vec![(&req.name).into(), V::I(user.id), V::I(now), text.into()],
        )
        .await?;
    let existing = snapshot(db, &req.name).await?;
    if inserted.is_empty() {
        return Err(ApiError::conflict(
            "release_exists",
            format!("release {} exists; releases never change", req.name),
        )
        .with("release", existing.unwrap_or(Value::Null)));
    }
    Ok((StatusCode::CREATED, Json(existing.unwrap_or(Value::Null))).into_response())
}

async fn snapshot(db: &dyn Sql, name: &str) -> anyhow::Result<Option<Value>> {
    let rows = db
        .query(
            "SELECT r.name, u.login, r.created, r.items FROM releases r \
             JOIN users u ON u.id = r.created_by WHERE r.name = $1",
            vec![name.into()],
        )
        .await?;
    Ok(rows.first().map(|r| {
        json!({"name": r[0].t(), "created_by": r[1].t(), "created": r[2].i(),
               "packages": serde_json::from_str::<Value>(&r[3].t()).unwrap_or(json!([]))})
    }))
}

/// `GET /api/v1/releases`.
pub async fn list_releases(State(reg): Shared) -> ApiResult<Json<Value>> {
    let rows = reg
        .db
        .query(
            "SELECT r.name, u.login, r.created FROM releases r \
             JOIN users u ON u.id = r.created_by ORDER BY r.created, r.name",
            vec![],
        )
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| json!({"name": r[0].t(), "created_by": r[1].t(), "created": r[2].i()}))
        .collect();
    Ok(Json(json!({"releases": list})))
}

/// `GET /api/v1/releases/{name}`.
pub async fn release_snapshot(
    State(reg): Shared,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    check_name(&name)?;
    match snapshot(reg.db.as_ref(), &name).await? {
        Some(v) => Ok(Json(v)),
        None => Err(ApiError::not_found(format!("no release {name}"))),
    }
}
