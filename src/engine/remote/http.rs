//! The HTTP transport: the agent `devsky serve` at a URL (`http://`, or `https://` with
//! the certificate trusted as [`super::tls`] says), with an API key sent as a bearer token
//! on every request (docs/API.md).

use std::io::Read;
use std::time::Duration;

use anyhow::Context;

use super::transport::{Answer, Body, Method, Request, Transport};
use super::wire::{HOLD_HEADER, api_error_bytes, hold_token};

/// `devsky serve` over HTTP.
pub struct HttpTransport {
    /// `URL/api/v1`.
    base: String,
    key: String,
    client: reqwest::blocking::Client,
}

impl HttpTransport {
    /// The agent at `url`, its certificate trusted as `trust` says, with the API key `key`.
    pub fn new(url: &str, key: String, trust: &super::tls::Trust) -> anyhow::Result<HttpTransport> {
        let client = super::tls::client_builder(url, trust)?
            .connect_timeout(Duration::from_secs(10))
            // Maps, uploads and log streams take as long as they take.
            .timeout(None)
            .build()
            .context("cannot make the HTTP client")?;
        Ok(HttpTransport {
            base: format!("{}/api/v1", url.trim_end_matches('/')),
            key,
            client,
        })
    }
}

impl Transport for HttpTransport {
    fn exchange(
        &self,
        req: Request<'_>,
        each: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<Answer> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut rb = self
            .client
            .request(method, format!("{}{}", self.base, req.path))
            .bearer_auth(&self.key);
        if let Some(t) = req.timeout {
            rb = rb.timeout(t);
        }
        rb = match req.body {
            Body::Empty => rb,
            Body::Json(text) => rb
                .header("content-type", "application/json")
                .body(text.to_string()),
            Body::Package(path) => {
                let f = std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                let len = f.metadata()?.len();
                let f = super::transport::Counted {
                    inner: f,
                    sent: req.sent.cloned(),
                };
                rb.header("content-type", "application/zip")
                    .body(reqwest::blocking::Body::sized(f, len))
            }
        };
        let mut r = rb
            .send()
            .with_context(|| format!("cannot reach the agent at {}", self.base))?;
        let status = r.status();
        if !status.is_success() {
            let mut body = Vec::new();
            let _ = r.by_ref().take(1 << 20).read_to_end(&mut body);
            return Err(api_error_bytes(status.as_u16(), &body));
        }
        let answer = Answer {
            hold: hold_token(r.headers().get(HOLD_HEADER).and_then(|v| v.to_str().ok())),
        };
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "the answer of the agent at {} was interrupted",
                        self.base
                    )));
                }
            };
            each(&buf[..n])?;
        }
        Ok(answer)
    }

    fn label(&self) -> String {
        self.base.trim_end_matches("/api/v1").to_string()
    }
}
