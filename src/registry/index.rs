//! The incremental index of the registry (Cargo's sparse index, Izyware's incremental
//! loader): every published version carries the cursor of its last change (publish, yank,
//! unyank); `GET /api/v1/index?since=CURSOR` answers the changes after CURSOR, oldest
//! first, with an ETag, so that a client that is up to date gets a 304 and no body.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::packages::next_seq;
use super::sql::{Row, V};
use super::{ApiResult, Shared};

#[derive(Debug, Deserialize)]
pub struct IndexQuery {
    #[serde(default)]
    pub since: i64,
    pub limit: Option<i64>,
}

/// The most entries one index answer holds.
pub const INDEX_PAGE: i64 = 50_000;

/// One line of the index: a published version as it is now.
#[derive(Debug, Serialize)]
struct Entry {
    name: String,
    version: String,
    depends: Value,
    checksum: String,
    size: i64,
    yanked: bool,
    sky_id: i64,
    published: i64,
    cursor: i64,
}

fn entry(r: &Row) -> Entry {
    Entry {
        name: r[0].t(),
        version: r[1].t(),
        depends: serde_json::from_str(&r[2].t()).unwrap_or(json!([])),
        checksum: r[3].t(),
        size: r[4].i(),
        yanked: r[5].i() != 0,
        sky_id: r[6].i(),
        published: r[7].i(),
        cursor: r[8].i(),
    }
}

/// `GET /api/v1/index?since=CURSOR[&limit=N]`: the versions published or changed (yanked,
/// unyanked) after CURSOR, oldest change first, with the cursor to ask from next time and
/// an ETag (`If-None-Match` -> 304 when nothing changed).
pub async fn index(
    State(reg): Shared,
    Query(q): Query<IndexQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(INDEX_PAGE).clamp(1, INDEX_PAGE);
    let since = q.since.max(0);
    let db = reg.db.as_ref();
    let head = next_seq(db).await? - 1;
    // The ETag of an answer that brings the client up to `head` is `"head"`: asked again
    // from there with it, nothing changed is a 304. Other answers: since, limit and head.
    let current = format!("\"{head}\"");
    let page_tag = format!("\"{since}-{limit}-{head}\"");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == page_tag || (t == current && since >= head))
        });
    if matches {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(
            header::ETAG,
            HeaderValue::from_str(&current).map_err(anyhow::Error::from)?,
        );
        return Ok(r);
    }
    let rows = db
        .query(
            "SELECT name, version, depends, checksum, size, yanked, id, published, seq \
             FROM versions WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
            vec![V::I(since), V::I(head), V::I(limit)],
        )
        .await?;
    let entries: Vec<Entry> = rows.iter().map(entry).collect();
    let cursor = entries.last().map_or(since.min(head), |e| e.cursor);
    let etag = if cursor >= head { current } else { page_tag };
    let body = json!({"cursor": cursor, "head": head, "more": cursor < head, "entries": entries});
    let mut r = Json(body).into_response();
    r.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&etag).map_err(anyhow::Error::from)?,
    );
    Ok(r)
}
