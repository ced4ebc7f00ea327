//! The agent over SSH: [`SshRemote`] starts `ssh [OPTIONS] [-p PORT] USER@HOST devsky
//! agent --stdio --root DIR` with the system's OpenSSH client (so the user's own
//! `~/.ssh/config`, keys and agent apply; SSH authenticates, there is no API key) and
//! speaks the HTTP API of docs/API.md as one HTTP/1.1 connection over the child's
//! stdin/stdout (the agent side is `crate::server::serve_stdio`).
//!
//! The target ([`SshTarget`]: destination, port, ssh arguments, remote binary, root,
//! database) and the shell words of a profile's `ssh` column are in
//! [`crate::engine::ssh_target`], re-exported here.
//!
//! A lost connection (ssh exits, the network dies) ends the request in progress with an
//! error naming the connection and ssh's last words, never a hang: the child's exit is
//! watched beside every read, and `ServerAliveInterval` makes ssh notice a silent peer.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Body;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use tokio::io::AsyncBufReadExt;
use tokio::process::Child;

use crate::engine::deploy::{LogLine, LogSink};
use crate::engine::remote::{
    Remote, RemoteDeployment, WireLine, api_error, hold_of, older_agent, or_in_two_steps,
    packing_of, push_path, started_id,
};
pub use crate::engine::ssh_target::{DEFAULT_REMOTE_BIN, SshTarget, sh_quote, split_words};

/// How long connecting (ssh authentication and the agent's first answer) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request may still finish after ssh exited (its last bytes in the pipe).
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The last lines ssh (and the agent) wrote on stderr.
#[derive(Default)]
struct StderrTail {
    lines: Mutex<VecDeque<String>>,
    done: AtomicBool,
}

impl StderrTail {
    const KEEP: usize = 20;

    fn text(&self) -> String {
        // Give the reader a moment to collect what ssh said as it exited.
        for _ in 0..20 {
            if self.done.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        // The agent's own request and deployment log is noise here: ssh's words stay.
        let agent_log = |l: &str| {
            let b = l.as_bytes();
            l.starts_with("devsky serve: ")
                || l.starts_with("devsky agent: ")
                || (b.len() > 20 && b[4] == b'-' && b[10] == b'T' && b[0].is_ascii_digit())
        };
        lines
            .iter()
            .filter(|l| !agent_log(l))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

struct Conn {
    sender: SendRequest<Body>,
    child: Child,
}

/// The agent on a server, reached through `ssh`.
pub struct SshRemote {
    rt: tokio::runtime::Runtime,
    conn: Mutex<Option<Conn>>,
    /// `USER@HOST[:PORT]`, for messages.
    label: String,
    stderr: Arc<StderrTail>,
    /// What its health said of the packages it reads.
    packing: std::sync::OnceLock<crate::engine::deploy::package::Packing>,
}

/// Wait for `fut`, unless ssh exits first (then `fut` gets a short grace to finish from
/// what is still in the pipe). Err(None): ssh exited.
async fn watch<T, E: std::fmt::Display>(
    child: &mut Child,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, Option<String>> {
    let mut fut = std::pin::pin!(fut);
    tokio::select! {
        r = &mut fut => r.map_err(|e| Some(e.to_string())),
        status = child.wait() => {
            match tokio::time::timeout(EXIT_GRACE, &mut fut).await {
                Ok(r) => r.map_err(|e| Some(e.to_string())),
                Err(_) => Err(Some(match status {
                    Ok(s) => format!("ssh exited ({s})"),
                    Err(e) => format!("ssh is gone ({e})"),
                })),
            }
        }
    }
}

impl SshRemote {
    /// Start ssh and the agent, and check that it answers.
    pub fn connect(target: &SshTarget) -> anyhow::Result<SshRemote> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the SSH client's runtime")?;
        let label = match target.port {
            Some(p) => format!("{}:{p}", target.destination),
            None => target.destination.clone(),
        };
        let stderr = Arc::new(StderrTail::default());
        let conn = rt.block_on(async {
            let mut child = tokio::process::Command::new("ssh")
                .args(target.ssh_command())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .context("cannot run ssh: is OpenSSH's client installed (apt-get install openssh-client)?")?;
            let (Some(stdin), Some(stdout), Some(err)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                bail!("ssh started without its pipes");
            };
            {
                use std::os::fd::AsRawFd;
                crate::server::widen_pipe(stdin.as_raw_fd());
                crate::server::widen_pipe(stdout.as_raw_fd());
            }
            let tail = stderr.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(err).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let mut q = tail.lines.lock().unwrap_or_else(|e| e.into_inner());
                    if q.len() == StderrTail::KEEP {
                        q.pop_front();
                    }
                    q.push_back(l);
                }
                tail.done.store(true, Ordering::SeqCst);
            });
            let io = hyper_util::rt::TokioIo::new(tokio::io::join(stdout, stdin));
            let (sender, driver) = hyper::client::conn::http1::handshake::<_, Body>(io)
                .await
                .context("cannot start HTTP over the SSH pipes")?;
            tokio::spawn(async move {
                let _ = driver.await;
            });
            Ok(Conn { sender, child })
        })?;
        let remote = SshRemote {
            rt,
            conn: Mutex::new(Some(conn)),
            label,
            stderr,
            packing: std::sync::OnceLock::new(),
        };
        remote.health()?;
        Ok(remote)
    }

    /// The first request, with a deadline: authentication and the agent's start.
    fn health(&self) -> anyhow::Result<()> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard.as_mut().context("the SSH connection is closed")?;
        let req = self.request(Method::GET, "/health", Body::empty(), None)?;
        let r = self.rt.block_on(async {
            let exchange = async {
                conn.sender.ready().await?;
                let res = conn.sender.send_request(req).await?;
                let status = res.status();
                let body = axum::body::to_bytes(Body::new(res.into_body()), 1 << 20)
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                Ok::<_, anyhow::Error>((status, body))
            };
            tokio::time::timeout(CONNECT_TIMEOUT, watch(&mut conn.child, exchange)).await
        });
        let fail = |why: String| {
            let said = self.stderr.text();
            anyhow::anyhow!(
                "cannot reach the agent over SSH at {}: {why}{}",
                self.label,
                if said.is_empty() {
                    String::new()
                } else {
                    format!("\nssh said:\n{said}")
                }
            )
        };
        match r {
            Err(_) => {
                let _ = conn.child.start_kill();
                Err(fail(format!(
                    "no answer within {}s",
                    CONNECT_TIMEOUT.as_secs()
                )))
            }
            Ok(Err(e)) => Err(fail(e.unwrap_or_else(|| "ssh exited".into()))),
            Ok(Ok((status, body))) if status.is_success() => {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if v["ok"] != true {
                    return Err(fail("the remote command is not a devsky agent".into()));
                }
                let _ = self.packing.set(packing_of(&v));
                Ok(())
            }
            Ok(Ok((status, _))) => Err(fail(format!("the agent answered {status}"))),
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> anyhow::Result<Request<Body>> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header("host", "devsky-agent");
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        Ok(b.body(body)?)
    }

    /// The error for a connection that broke off.
    fn lost(&self, why: Option<String>) -> anyhow::Error {
        let said = self.stderr.text();
        anyhow::anyhow!(
            "the SSH connection to {} was lost: {}{}",
            self.label,
            why.unwrap_or_else(|| "ssh exited".into()),
            if said.is_empty() {
                String::new()
            } else {
                format!("\nssh said:\n{said}")
            }
        )
    }

    /// Send a request and hand each chunk of a successful answer's body to `each`; an
    /// error answer becomes its error (locked, conflicts, ...).
    fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
        mut each: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<hyper::HeaderMap> {
        let req = self.request(method, path, body, content_type)?;
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard
            .as_mut()
            .with_context(|| format!("the SSH connection to {} is closed", self.label))?;
        self.rt.block_on(async {
            let send = async {
                conn.sender.ready().await?;
                conn.sender.send_request(req).await
            };
            let res = watch(&mut conn.child, send)
                .await
                .map_err(|e| self.lost(e))?;
            let status = res.status();
            let headers = res.headers().clone();
            let mut body: Incoming = res.into_body();
            let mut error_body = Vec::new();
            loop {
                let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
                let frame = watch(&mut conn.child, async { next.await.transpose() })
                    .await
                    .map_err(|e| self.lost(e))?;
                let Some(frame) = frame else { break };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if status.is_success() {
                    each(&data)?;
                } else if error_body.len() < 1 << 20 {
                    error_body.extend_from_slice(&data);
                }
            }
            if status.is_success() {
                Ok(headers)
            } else {
                let v: serde_json::Value =
                    serde_json::from_slice(&error_body).unwrap_or(serde_json::Value::Null);
                Err(api_error(status.as_u16(), &v))
            }
        })
    }

    fn bytes(&self, method: Method, path: &str, body: Body, json: bool) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.exchange(
            method,
            path,
            body,
            json.then_some("application/json"),
            |d| {
                out.extend_from_slice(d);
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let b = self.bytes(Method::GET, path, Body::empty(), false)?;
        serde_json::from_slice(&b).context("the agent sent an answer devsky cannot read")
    }

    fn started(&self, path: &str, body: serde_json::Value) -> anyhow::Result<i64> {
        let b = self.bytes(Method::POST, path, Body::from(body.to_string()), true)?;
        started_id(
            &serde_json::from_slice(&b).context("the agent sent an answer devsky cannot read")?,
        )
    }

    /// The map into `out`, asked for with `extra` query parameters; the hold's token.
    fn map_at(&self, out: &Path, extra: &str) -> anyhow::Result<Option<String>> {
        // The compact encoding; an older agent ignores the query and sends the map file.
        let mut dl = crate::engine::map::wire::MapDownload::new(out);
        let path = format!("/map?{}{extra}", crate::engine::map::wire::QUERY);
        let headers = self.exchange(Method::GET, &path, Body::empty(), None, |d| dl.feed(d))?;
        dl.finish()?;
        Ok(hold_of(&headers))
    }

    /// A package file as a request body, streamed in big chunks (each read of a tokio file
    /// is a hop to a blocking thread).
    fn package_body(&self, package: &Path) -> anyhow::Result<Body> {
        let _rt = self.rt.enter();
        let f = std::fs::File::open(package)
            .with_context(|| format!("cannot open {}", package.display()))?;
        Ok(Body::from_stream(
            tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(f), 256 * 1024),
        ))
    }
}

impl Drop for SshRemote {
    fn drop(&mut self) {
        let conn = self
            .conn
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(Conn { sender, mut child }) = conn {
            // Closing the connection closes ssh's stdin: the agent ends, then ssh.
            drop(sender);
            self.rt.block_on(async {
                if tokio::time::timeout(Duration::from_secs(5), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            });
        }
    }
}

impl Remote for SshRemote {
    fn map(&self, out: &Path) -> anyhow::Result<()> {
        self.map_at(out, "").map(drop)
    }

    fn map_held(&self, out: &Path) -> anyhow::Result<Option<String>> {
        self.map_at(out, "&hold=true")
    }

    fn packing(&self) -> crate::engine::deploy::package::Packing {
        self.packing
            .get()
            .copied()
            .unwrap_or(crate::engine::deploy::package::Packing::Deflate)
    }

    fn release(&self, hold: &str) -> anyhow::Result<()> {
        self.bytes(
            Method::DELETE,
            &format!("/lock?hold={hold}"),
            Body::empty(),
            false,
        )
        .map(drop)
    }

    fn upload(&self, package: &Path) -> anyhow::Result<String> {
        let body = self.package_body(package)?;
        let b = self.bytes(Method::POST, "/packages", body, false)?;
        let v: serde_json::Value = serde_json::from_slice(&b)?;
        Ok(v["id"]
            .as_str()
            .context("the agent did not return the package id")?
            .to_string())
    }

    fn deploy(&self, package: &str, force: bool) -> anyhow::Result<i64> {
        self.started(
            "/deployments",
            serde_json::json!({"package": package, "force": force}),
        )
    }

    fn push(&self, package: &Path, force: bool, hold: Option<&str>) -> anyhow::Result<i64> {
        let body = self.package_body(package)?;
        let sent = self
            .bytes(Method::POST, &push_path(force, hold), body, false)
            .and_then(|b| {
                started_id(
                    &serde_json::from_slice(&b)
                        .context("the agent sent an answer devsky cannot read")?,
                )
            });
        or_in_two_steps(self, sent, package, force)
    }

    fn follow_logs(&self, id: i64, sink: LogSink) -> anyhow::Result<RemoteDeployment> {
        let mut pending = Vec::<u8>::new();
        let mut event = String::new();
        let mut data = String::new();
        let mut end: Option<RemoteDeployment> = None;
        self.exchange(
            Method::GET,
            &format!("/deployments/{id}/logs/stream"),
            Body::empty(),
            None,
            |chunk| {
                pending.extend_from_slice(chunk);
                while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                    let raw: Vec<u8> = pending.drain(..=nl).collect();
                    let line = String::from_utf8_lossy(&raw);
                    let line = line.trim_end_matches(['\n', '\r']);
                    if line.is_empty() {
                        match event.as_str() {
                            "log" => {
                                let w: WireLine = serde_json::from_str(&data)?;
                                sink(&LogLine::from(w));
                            }
                            "end" if end.is_none() => {
                                end =
                                    Some(serde_json::from_str(&data).context(
                                        "the agent sent an end event devsky cannot read",
                                    )?);
                            }
                            _ => {}
                        }
                        event.clear();
                        data.clear();
                    } else if let Some(e) = line.strip_prefix("event:") {
                        event = e.trim().to_string();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(d.trim_start());
                    }
                }
                Ok(())
            },
        )?;
        match end {
            Some(d) => Ok(d),
            // The stream ended without its end event: ask.
            None => self.status(id),
        }
    }

    fn logs(&self, id: i64) -> anyhow::Result<Vec<LogLine>> {
        let b = self.bytes(
            Method::GET,
            &format!("/deployments/{id}/logs"),
            Body::empty(),
            false,
        )?;
        String::from_utf8_lossy(&b)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Ok(serde_json::from_str::<WireLine>(l)?.into()))
            .collect()
    }

    fn status(&self, id: i64) -> anyhow::Result<RemoteDeployment> {
        self.get_json(&format!("/deployments/{id}"))
    }

    fn agent_status(&self) -> anyhow::Result<serde_json::Value> {
        self.get_json("/status")
    }

    fn database(&self) -> anyhow::Result<serde_json::Value> {
        self.get_json("/database").map_err(older_agent)
    }

    fn history(&self) -> anyhow::Result<Vec<RemoteDeployment>> {
        self.get_json("/deployments")
    }

    fn rollback(&self, to: Option<i64>, force: bool) -> anyhow::Result<i64> {
        self.started("/rollback", serde_json::json!({"to": to, "force": force}))
    }
}
