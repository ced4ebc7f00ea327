//! The map routes: `GET /api/v1/map` (shared scans, the map file or its compact encoding)
//! and its hold (`?hold=true`: the lock taken and the map made under it, streamed while the
//! scan runs).

use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Query, State as Ax};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Agent;
use super::api::{ApiError, ApiResult, CHUNK, Shared, file_body, with_state};
use crate::engine::deploy::apply::Held;
use crate::engine::deploy::map_root;
use crate::engine::deploy::state::LockGuard;
use crate::engine::jobs::Progress;
use crate::engine::map::format::MapReader;
use crate::engine::map::scan::{Tap, Tapped};
use crate::engine::map::wire;

/// The query of `GET /api/v1/map`.
#[derive(Debug, Default, Deserialize)]
pub struct MapQuery {
    /// `compact`: the wire encoding ([`wire`]); anything else: the map file.
    pub format: Option<String>,
    /// Take the deploy lock and map under it, for the push that follows ([`super::hold`]).
    #[serde(default)]
    pub hold: bool,
}

/// `GET /api/v1/map`: the root's map, made with the state's warm stat cache; requests
/// that arrive together share one scan ([`super::mapcache`]). The map file as it is, or
/// with `?format=compact` its compact encoding ([`wire`]), made on a blocking thread as it
/// is sent.
pub async fn map(Ax(agent): Shared, Query(q): Query<MapQuery>) -> ApiResult<Response> {
    if q.hold {
        return held_map(agent, q).await;
    }
    let file = agent
        .maps
        .get(|| {
            with_state(&agent, |agent, state| {
                let tmp = tempfile::Builder::new()
                    .prefix(super::mapcache::PREFIX)
                    .suffix(".map")
                    .tempfile_in(state.dir().join("cache"))
                    .map_err(|e| ApiError::internal(e.into()))?;
                map_root(&agent.root, state, tmp.path(), &Progress::silent())?;
                Ok(tmp)
            })
        })
        .await?;
    if q.format.as_deref() == Some("compact") {
        return Ok(compact_body(file));
    }
    // Opened before `file` may go away.
    file_body(file.path(), "application/octet-stream").await
}

/// `GET /api/v1/map?hold=true`: the lock taken, the root mapped under it and kept as a hold
/// whose token is in the `Devsky-Hold` header. The compact encoding goes out while the scan
/// runs; its last bytes only once the hold is kept (a client cannot push before).
async fn held_map(agent: Arc<Agent>, q: MapQuery) -> ApiResult<Response> {
    // The lock first: a refusal is an answer of its own (409), not a broken map.
    let lock = with_state(&agent, |agent, state| {
        Held::lock(&agent.root, state, &Progress::silent(), &super::print_line)
            .map_err(|e| ApiError::of_deploy(&e, StatusCode::INTERNAL_SERVER_ERROR))
    })
    .await?;
    let token = super::hold::new_token()?;
    let header = HeaderValue::from_str(&token).map_err(|e| ApiError::internal(e.into()))?;
    let mut r = if q.format.as_deref() == Some("compact") {
        streamed_hold(agent, lock, token)
    } else {
        let (file, held) = with_state(&agent, move |agent, state| {
            let held = Held::map(lock, &agent.root, state, None, &Progress::silent())?;
            // The answer reads a link of its own: the deployment takes the held map over.
            let served = tempfile::Builder::new()
                .prefix(super::mapcache::PREFIX)
                .suffix(".map")
                .make_in(state.dir().join("cache"), |p| {
                    std::fs::hard_link(&held.map, p)
                });
            match served {
                Ok(f) => Ok((f, held)),
                Err(e) => {
                    held.release();
                    Err(ApiError::internal(e.into()))
                }
            }
        })
        .await?;
        agent.keep_hold(token, held);
        file_body(file.path(), "application/octet-stream").await?
    };
    r.headers_mut().insert(super::hold::HEADER, header);
    Ok(r)
}

/// The held map in the compact encoding, sent chunk by chunk as the scan under `lock`
/// makes it; the hold is kept under `token` before the trailer goes.
fn streamed_hold(agent: Arc<Agent>, lock: LockGuard, token: String) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        let encoder = Arc::new(std::sync::Mutex::new(None::<wire::Encoder>));
        let (enc, out) = (encoder.clone(), tx.clone());
        let tap: Tap = Arc::new(move |t: Tapped<'_>| {
            let mut enc = enc.lock().unwrap_or_else(|e| e.into_inner());
            let chunk = match t {
                Tapped::Started(ns) => {
                    // The agent's maps hold folders (deploy maps).
                    *enc = Some(wire::Encoder::with_dirs(ns, CHUNK, true));
                    None
                }
                Tapped::Entry(e) => match enc.as_mut() {
                    Some(enc) => enc.push(e)?,
                    None => anyhow::bail!("an entry before the map started"),
                },
            };
            if let Some(c) = chunk {
                out.blocking_send(Ok(Bytes::from(c)))
                    .map_err(|_| anyhow::anyhow!("the client went away"))?;
            }
            Ok(())
        });
        let held = agent
            .state()
            .and_then(|state| Held::map(lock, &agent.root, &state, Some(tap), &Progress::silent()));
        let last = encoder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(|enc| enc.finish(false));
        match (held, last) {
            (Ok(held), Some(last)) => {
                agent.keep_hold(token.clone(), held);
                if tx.blocking_send(Ok(Bytes::from(last))).is_err() {
                    // The client went away: no push will come.
                    agent.release_hold(Some(&token));
                }
            }
            (Ok(held), None) => held.release(),
            (Err(e), _) => {
                eprintln!("devsky serve: GET /api/v1/map?hold=true: {e:#}");
                let _ = tx.blocking_send(Err(std::io::Error::other(format!("{e:#}"))));
            }
        }
    });
    compact_response(rx)
}

/// The compact encoding of the map `file`, streamed in chunks of about [`CHUNK`] as a
/// blocking thread makes them (it holds `file` until it is done). An error ends the body
/// short: the client finds no trailer and refuses it.
fn compact_body(file: Arc<tempfile::NamedTempFile>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let sent = MapReader::open(file.path()).and_then(|reader| {
            wire::encode(reader, CHUNK, |chunk| {
                tx.blocking_send(Ok(Bytes::from(chunk)))
                    .map_err(|_| anyhow::anyhow!("the client went away"))
            })
        });
        if let Err(e) = sent
            && !tx.is_closed()
        {
            eprintln!("devsky serve: GET /api/v1/map: {e:#}");
            let _ = tx.blocking_send(Err(std::io::Error::other(format!("{e:#}"))));
        }
        drop(file);
    });
    compact_response(rx)
}

/// The answer whose body is the compact encoding coming through `rx`.
fn compact_response(rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>) -> Response {
    let mut r = Body::new(ChannelBody(rx)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(wire::CONTENT_TYPE),
    );
    r
}

/// A body whose chunks come through a channel (from a blocking thread).
struct ChannelBody(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| c.map(hyper::body::Frame::data)))
    }
}
