//! The one thing a way of reaching a server must do: carry a request of the agent's API
//! (docs/API.md) and hand back the answer ([`Transport`]). Everything a deploy asks of a
//! server (maps, holds, pushes, logs, history, rollback) is written once, in
//! [`super::Remote`], on top of it.
//!
//! A transport is given a [`Request`] (method, path under `/api/v1`, body) and streams the
//! body of a successful answer to a callback as it arrives: maps and log streams can be
//! large or long, nothing is buffered whole. An error answer (not 2xx) becomes its error
//! through [`super::wire::api_error`], so that "locked", "conflicts" and "verification
//! failed" mean the same whatever carried them.
//!
//! Transports today: [`super::http`] (`devsky serve`, reqwest) and [`super::ssh`] (`devsky
//! agent --stdio` behind the system's `ssh`). A transport without a devsky agent on the
//! other side (SFTP, FTP, Git) answers the same requests itself, on the client: see "Adding
//! a transport" in docs/ARCHITECTURE.md.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The HTTP methods of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// What a request carries.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Empty,
    /// A JSON document (`content-type: application/json`).
    Json(&'a str),
    /// A package file, streamed (`content-type: application/zip`).
    Package(&'a Path),
}

/// One request of the agent's API.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: Method,
    /// The path and query under `/api/v1`, e.g. `/map?hold=true`.
    pub path: &'a str,
    pub body: Body<'a>,
    /// Where a package body's bytes are counted as they are sent (upload progress).
    pub sent: Option<&'a Arc<AtomicU64>>,
    /// How long the whole answer may take (None: as long as it takes). A transport that
    /// cannot abandon a request without losing its connection may ignore it.
    pub timeout: Option<Duration>,
}

impl<'a> Request<'a> {
    pub fn new(method: Method, path: &'a str) -> Request<'a> {
        Request {
            method,
            path,
            body: Body::Empty,
            sent: None,
            timeout: None,
        }
    }

    /// Count the bytes of the body in `sent` as the transport sends them.
    pub fn counting(self, sent: &'a Arc<AtomicU64>) -> Request<'a> {
        Request {
            sent: Some(sent),
            ..self
        }
    }

    pub fn body(self, body: Body<'a>) -> Request<'a> {
        Request { body, ..self }
    }

    pub fn timeout(self, t: Duration) -> Request<'a> {
        Request {
            timeout: Some(t),
            ..self
        }
    }
}

/// The headers of a successful answer that the client reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// The token of a hold ([`super::wire::HOLD_HEADER`]), if the agent took one.
    pub hold: Option<String>,
}

/// A way of reaching a server's agent. `Send + Sync`, so that a connection made in one job
/// (a plan under a hold) can be used by the next (the push of that plan).
pub trait Transport: Send + Sync {
    /// Send `req`. A successful answer's body goes to `each`, chunk by chunk as it arrives
    /// (an error from `each` ends the request with that error); its headers come back. An
    /// error answer becomes its error ([`super::wire::api_error`]); a broken connection
    /// an error that says so.
    fn exchange(
        &self,
        req: Request<'_>,
        each: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<Answer>;

    /// The agent's answer to `GET /health` if the transport already has it (one that asks
    /// while connecting); None: the client asks when it needs it.
    fn health(&self) -> Option<serde_json::Value> {
        None
    }

    /// Where the agent is, for messages (`http://host:port`, `user@host`).
    fn label(&self) -> String;

    /// Whether the connection can still carry a request (false: its ssh exited); a
    /// session that keeps it ([`super::sessions::Sessions`]) opens a new one instead.
    fn alive(&self) -> bool {
        true
    }

    /// The paths the last map found changed on the server by someone else (only a
    /// target without an agent, [`super::agentless`], keeps such a list; an agent's map
    /// is the tree itself).
    fn drift(&self) -> Vec<super::agentless::tree::Drift> {
        Vec::new()
    }
}

/// A reader that adds what is read from it to a counter: a package body's bytes as a
/// transport sends them (blocking [`Read`] for HTTP, [`tokio::io::AsyncRead`] for SSH).
pub struct Counted<R> {
    pub inner: R,
    pub sent: Option<Arc<AtomicU64>>,
}

impl<R> Counted<R> {
    fn add(&self, n: usize) {
        if let Some(s) = &self.sent {
            s.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.add(n);
        Ok(n)
    }
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.add(n);
        r
    }
}
