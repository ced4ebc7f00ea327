//! The SSH transport: [`SshTransport`] starts `ssh [OPTIONS] [-p PORT] USER@HOST devsky
//! agent --stdio --root DIR` with the system's OpenSSH client (so the user's own
//! `~/.ssh/config`, keys and agent apply; SSH authenticates, there is no API key) and
//! speaks the HTTP API of docs/API.md as one HTTP/1.1 connection over the child's
//! stdin/stdout (the agent side is `crate::server::serve_stdio`).
//!
//! The target ([`SshTarget`]: destination, port, ssh arguments, remote binary, root,
//! database) and the shell words of a profile's `ssh` column are in
//! [`super::ssh_target`], re-exported here. [`widen_pipe`] is shared with the agent's side.
//!
//! A lost connection (ssh exits, the network dies) ends the request in progress with an
//! error naming the connection and ssh's last words, never a hang: the child's exit is
//! watched beside every read, and `ServerAliveInterval` makes ssh notice a silent peer.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Body;
use hyper::Method;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::SendRequest;
use tokio::io::AsyncBufReadExt;
use tokio::process::Child;

pub use super::ssh_target::{DEFAULT_REMOTE_BIN, SshTarget, sh_quote, split_words};
use super::transport::{self, Answer, Request, Transport};
use super::wire::{HOLD_HEADER, api_error_bytes, hold_token};

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
pub struct SshTransport {
    rt: tokio::runtime::Runtime,
    conn: Mutex<Option<Conn>>,
    /// `USER@HOST[:PORT]`, for messages.
    label: String,
    stderr: Arc<StderrTail>,
    /// Its answer to `GET /health` while connecting.
    health: serde_json::Value,
}

/// Make the pipe `fd` hold 1 MiB (Linux's default is 64 KiB) where it is a pipe and the
/// system allows it: maps and packages then cross `ssh` in far fewer hand-overs between the
/// processes on each side, each of which can cost a wake-up of an idle CPU. Both ends use
/// it: this client on ssh's pipes, the agent (`devsky agent --stdio`) on its stdin/stdout.
pub fn widen_pipe(fd: std::os::fd::RawFd) {
    // SAFETY: fcntl on a descriptor this process owns; a failure changes nothing.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
    }
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

impl SshTransport {
    /// Start ssh and the agent, and check that it answers.
    pub fn connect(target: &SshTarget) -> anyhow::Result<SshTransport> {
        let label = match target.port {
            Some(p) => format!("{}:{p}", target.destination),
            None => target.destination.clone(),
        };
        Self::spawn(std::ffi::OsStr::new("ssh"), &target.ssh_command(), label)
    }

    /// Start `program ARGS` (which runs `devsky agent --stdio` and passes its pipes on: ssh,
    /// or that very command on this machine for a transport that keeps a local tree, like
    /// [`super::git`]), and check that the agent answers.
    pub fn spawn(
        program: &std::ffi::OsStr,
        args: &[String],
        label: String,
    ) -> anyhow::Result<SshTransport> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the SSH client's runtime")?;
        let stderr = Arc::new(StderrTail::default());
        let conn = rt.block_on(async {
            let mut child = tokio::process::Command::new(program)
                .args(args)
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
                widen_pipe(stdin.as_raw_fd());
                widen_pipe(stdout.as_raw_fd());
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
        let mut remote = SshTransport {
            rt,
            conn: Mutex::new(Some(conn)),
            label,
            stderr,
            health: serde_json::Value::Null,
        };
        remote.health = remote.first_health()?;
        Ok(remote)
    }

    /// The first request, with a deadline: authentication and the agent's start; the
    /// agent's health.
    fn first_health(&self) -> anyhow::Result<serde_json::Value> {
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
                Ok(v)
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
    ) -> anyhow::Result<hyper::Request<Body>> {
        let mut b = hyper::Request::builder()
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

    /// A package file as a request body, streamed in big chunks (each read of a tokio file
    /// is a hop to a blocking thread).
    fn package_body(&self, package: &Path, sent: Option<&Arc<AtomicU64>>) -> anyhow::Result<Body> {
        let _rt = self.rt.enter();
        let f = std::fs::File::open(package)
            .with_context(|| format!("cannot open {}", package.display()))?;
        let f = transport::Counted {
            inner: tokio::fs::File::from_std(f),
            sent: sent.cloned(),
        };
        Ok(Body::from_stream(
            tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024),
        ))
    }
}

impl Transport for SshTransport {
    /// Send a request over the one HTTP/1.1 connection and hand each chunk of a
    /// successful answer's body to `each`; an error answer becomes its error (locked,
    /// conflicts, ...). `req.timeout` is not applied: abandoning a request would leave the
    /// connection unusable, and a lost connection ends it anyway.
    fn exchange(
        &self,
        req: Request<'_>,
        each: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<Answer> {
        let method = match req.method {
            transport::Method::Get => Method::GET,
            transport::Method::Post => Method::POST,
            transport::Method::Delete => Method::DELETE,
        };
        let (body, content_type) = match req.body {
            transport::Body::Empty => (Body::empty(), None),
            transport::Body::Json(text) => (Body::from(text.to_string()), Some("application/json")),
            transport::Body::Package(p) => {
                (self.package_body(p, req.sent)?, Some("application/zip"))
            }
        };
        let req = self.request(method, req.path, body, content_type)?;
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
            let answer = Answer {
                hold: hold_token(res.headers().get(HOLD_HEADER).and_then(|v| v.to_str().ok())),
            };
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
                Ok(answer)
            } else {
                Err(api_error_bytes(status.as_u16(), &error_body))
            }
        })
    }

    fn health(&self) -> Option<serde_json::Value> {
        Some(self.health.clone())
    }

    fn label(&self) -> String {
        self.label.clone()
    }

    /// Whether ssh still runs (a request in flight: yes, it ends on its own if not).
    fn alive(&self) -> bool {
        match self.conn.try_lock() {
            Ok(mut g) => g
                .as_mut()
                .is_some_and(|c| matches!(c.child.try_wait(), Ok(None))),
            Err(std::sync::TryLockError::WouldBlock) => true,
            Err(std::sync::TryLockError::Poisoned(_)) => false,
        }
    }
}

impl Drop for SshTransport {
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

#[cfg(test)]
mod pipe_tests {
    use super::widen_pipe;

    #[test]
    fn a_pipe_is_widened_to_a_mebibyte() {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two descriptors into the array it is given.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let size = |fd| unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
        assert!(size(fds[0]) < 1 << 20);
        widen_pipe(fds[1]);
        assert_eq!(size(fds[0]), 1 << 20, "both ends share the one buffer");
        // Not a pipe: nothing happens, nothing fails.
        let f = tempfile::tempfile().unwrap();
        widen_pipe(std::os::fd::AsRawFd::as_raw_fd(&f));
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
