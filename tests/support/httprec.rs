//! A tiny HTTP/1.1 server on loopback for tests: it records every request (method, path,
//! headers, body) and answers with what a closure says. `git_hosts` answers like GitHub,
//! GitLab and Bitbucket Cloud do to "open a pull/merge request" (their documented request
//! and response shapes), refusing a request without the expected token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

pub type Responder = dyn Fn(&Seen, usize) -> (u16, String) + Send + Sync;

pub struct Server {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Serve on a free loopback port; `respond(request, index)` gives status and JSON body.
    pub fn start(respond: Box<Responder>) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let s2 = seen.clone();
        let respond: Arc<Responder> = Arc::from(respond);
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                let (seen, respond) = (s2.clone(), respond.clone());
                std::thread::spawn(move || {
                    let mut r = BufReader::new(c.try_clone().unwrap());
                    let mut first = String::new();
                    if r.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut it = first.split_whitespace();
                    let method = it.next().unwrap_or("").to_string();
                    let path = it.next().unwrap_or("").to_string();
                    let mut headers = Vec::new();
                    loop {
                        let mut l = String::new();
                        r.read_line(&mut l).unwrap();
                        let l = l.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        let (k, v) = l.split_once(':').unwrap();
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                    let len: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .map(|(_, v)| v.parse().unwrap())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let req = Seen {
                        method,
                        path,
                        headers,
                        body,
                    };
                    let n = {
                        let mut s = seen.lock().unwrap();
                        s.push(req.clone());
                        s.len() - 1
                    };
                    let (status, text) = respond(&req, n);
                    let _ = write!(
                        c,
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                });
            }
        });
        Server { url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// GitHub, GitLab and Bitbucket's "open a pull/merge request" endpoints, as documented:
/// - GitHub `POST /repos/{owner}/{repo}/pulls`, `Authorization: Bearer T` -> 201
///   `{"number", "html_url", "head": {"ref"}, "base": {"ref"}, ...}`;
/// - GitLab `POST /api/v4/projects/{url-encoded path}/merge_requests`, `PRIVATE-TOKEN: T`
///   -> 201 `{"iid", "web_url", "source_branch", "target_branch", ...}`;
/// - Bitbucket `POST /2.0/repositories/{workspace}/{repo}/pullrequests`, `Authorization:
///   Bearer T` -> 201 `{"id", "links": {"html": {"href"}}, "source": ..., ...}`.
///
/// A wrong token gets 401 with each host's error shape.
pub fn git_hosts(token: &'static str) -> Server {
    Server::start(Box::new(move |req, n| {
        let bearer = req.header("authorization") == Some(&format!("Bearer {token}"));
        let gl_token = req.header("private-token") == Some(token);
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let p = req.path.as_str();
        if req.method != "POST" {
            return (405, r#"{"message":"Method Not Allowed"}"#.into());
        }
        if let Some(rest) = p.strip_prefix("/repos/")
            && let Some(repo) = rest.strip_suffix("/pulls")
        {
            if !bearer {
                return (401, r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}"#.into());
            }
            let v = serde_json::json!({
                "id": 1000 + n, "number": n + 1, "state": "open",
                "html_url": format!("https://github.example/{repo}/pull/{}", n + 1),
                "title": body["title"], "head": {"ref": body["head"]}, "base": {"ref": body["base"]},
            });
            return (201, v.to_string());
        }
        if let Some(rest) = p.strip_prefix("/api/v4/projects/")
            && let Some(id) = rest.strip_suffix("/merge_requests")
        {
            if !gl_token {
                return (401, r#"{"message":"401 Unauthorized"}"#.into());
            }
            let path = id.replace("%2F", "/");
            let v = serde_json::json!({
                "id": 2000 + n, "iid": n + 1, "state": "opened",
                "web_url": format!("https://gitlab.example/{path}/-/merge_requests/{}", n + 1),
                "source_branch": body["source_branch"], "target_branch": body["target_branch"],
                "title": body["title"],
            });
            return (201, v.to_string());
        }
        if let Some(rest) = p.strip_prefix("/2.0/repositories/")
            && let Some(repo) = rest.strip_suffix("/pullrequests")
        {
            if !bearer {
                return (
                    401,
                    r#"{"type":"error","error":{"message":"Access token expired."}}"#.into(),
                );
            }
            let v = serde_json::json!({
                "type": "pullrequest", "id": n + 1, "state": "OPEN", "title": body["title"],
                "links": {"html": {"href": format!("https://bitbucket.example/{repo}/pull-requests/{}", n + 1)}},
                "source": body["source"], "destination": body["destination"],
            });
            return (201, v.to_string());
        }
        (404, r#"{"message":"Not Found"}"#.into())
    }))
}
