//! Opening a pull (merge) request through a Git host's REST API, for the Git target
//! ([`super::git`]): GitHub (`POST /repos/{owner}/{repo}/pulls`), GitLab (`POST
//! /projects/{id}/merge_requests`, the project's path URL-encoded as its id) and Bitbucket
//! Cloud (`POST /2.0/repositories/{workspace}/{repo}/pullrequests`), with their documented
//! request and response shapes. The base URL is configurable (GitHub Enterprise,
//! self-hosted GitLab). The token goes in a header only: never in a URL, a message or a log.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;

/// A Git host with a pull request API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
    Bitbucket,
}

impl Provider {
    pub fn parse(s: &str) -> anyhow::Result<Provider> {
        Ok(match s {
            "github" => Provider::GitHub,
            "gitlab" => Provider::GitLab,
            "bitbucket" => Provider::Bitbucket,
            _ => bail!("--provider is github, gitlab or bitbucket"),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Bitbucket => "bitbucket",
        }
    }

    /// The public service's API base URL.
    pub fn default_api(self) -> &'static str {
        match self {
            Provider::GitHub => "https://api.github.com",
            Provider::GitLab => "https://gitlab.com/api/v4",
            Provider::Bitbucket => "https://api.bitbucket.org/2.0",
        }
    }

    /// The user name that goes with the token in HTTPS git URLs (`git push`).
    pub fn git_user(self) -> &'static str {
        match self {
            Provider::GitHub => "x-access-token",
            Provider::GitLab => "oauth2",
            Provider::Bitbucket => "x-token-auth",
        }
    }
}

/// What to open: `head` into `base`.
#[derive(Debug, Clone)]
pub struct PullRequest<'a> {
    /// `owner/repo` (GitHub), the project's path `group/sub/project` (GitLab),
    /// `workspace/repo` (Bitbucket).
    pub repo: &'a str,
    pub head: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
}

/// Percent-encode everything but unreserved characters (a GitLab project path as its id).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A repository path checked: `a/b` (GitLab: more parts), no empty part, no `..`.
fn check_repo(p: Provider, repo: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = repo.split('/').collect();
    let ok_part = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let n_ok = match p {
        Provider::GitLab => parts.len() >= 2,
        _ => parts.len() == 2,
    };
    if !n_ok || !parts.iter().all(ok_part) {
        bail!(
            "the repository {repo:?} is not {} (--repo)",
            match p {
                Provider::GitHub => "OWNER/REPO",
                Provider::GitLab => "GROUP/PROJECT",
                Provider::Bitbucket => "WORKSPACE/REPO",
            }
        );
    }
    Ok(())
}

/// The request for `pr`: URL path under the API base, auth header, JSON body.
pub fn request_of(
    p: Provider,
    pr: &PullRequest,
    token: &str,
) -> anyhow::Result<(String, (&'static str, String), serde_json::Value)> {
    check_repo(p, pr.repo)?;
    Ok(match p {
        Provider::GitHub => (
            format!("/repos/{}/pulls", pr.repo),
            ("authorization", format!("Bearer {token}")),
            json!({"title": pr.title, "head": pr.head, "base": pr.base, "body": pr.body}),
        ),
        Provider::GitLab => (
            format!("/projects/{}/merge_requests", encode(pr.repo)),
            ("private-token", token.to_string()),
            json!({"source_branch": pr.head, "target_branch": pr.base, "title": pr.title,
                   "description": pr.body}),
        ),
        Provider::Bitbucket => (
            format!("/repositories/{}/pullrequests", pr.repo),
            ("authorization", format!("Bearer {token}")),
            json!({"title": pr.title, "description": pr.body,
                   "source": {"branch": {"name": pr.head}},
                   "destination": {"branch": {"name": pr.base}}}),
        ),
    })
}

/// The web address of the request the host made, from its answer.
fn url_of(p: Provider, v: &serde_json::Value) -> Option<String> {
    match p {
        Provider::GitHub => v["html_url"].as_str(),
        Provider::GitLab => v["web_url"].as_str(),
        Provider::Bitbucket => v["links"]["html"]["href"].as_str(),
    }
    .map(str::to_string)
}

/// The host's own message in an error answer.
fn message_of(v: &serde_json::Value) -> String {
    let m = &v["message"];
    let text = if let Some(s) = m.as_str() {
        s.to_string()
    } else if !m.is_null() {
        m.to_string()
    } else if let Some(s) = v["error"]["message"].as_str() {
        s.to_string()
    } else {
        v.to_string()
    };
    text.chars().take(500).collect()
}

/// Open the pull request `pr` on `api` (base URL); the address of the page it made.
pub fn open(p: Provider, api: &str, pr: &PullRequest, token: &str) -> anyhow::Result<String> {
    if token.is_empty() {
        bail!("no token for the {} API", p.as_str());
    }
    let (path, (hname, hvalue), body) = request_of(p, pr, token)?;
    let url = format!("{}{path}", api.trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut req = client
        .post(&url)
        .header(hname, hvalue)
        .header("user-agent", concat!("devsky/", env!("CARGO_PKG_VERSION")))
        .json(&body);
    if p == Provider::GitHub {
        req = req
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28");
    }
    let r = req
        .send()
        .map_err(|e| anyhow::anyhow!("cannot reach the {} API: {}", p.as_str(), e.without_url()))?;
    let status = r.status();
    let text = r.text().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        bail!(
            "the {} API refused the pull request ({status}): {}",
            p.as_str(),
            message_of(&v)
        );
    }
    url_of(p, &v).with_context(|| {
        format!(
            "the {} API answered {status} without the request's address",
            p.as_str()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_ids_are_encoded_and_bad_repos_refused() {
        let pr = PullRequest {
            repo: "grp/sub/proj",
            head: "h",
            base: "b",
            title: "t",
            body: "",
        };
        let (path, (h, _), body) = request_of(Provider::GitLab, &pr, "tok").unwrap();
        assert_eq!(path, "/projects/grp%2Fsub%2Fproj/merge_requests");
        assert_eq!(h, "private-token");
        assert_eq!(body["source_branch"], "h");
        for bad in ["a", "a/../b", "a/b/c", "a//b", "a/b?x=1", "../x"] {
            let pr = PullRequest {
                repo: bad,
                ..pr.clone()
            };
            assert!(request_of(Provider::GitHub, &pr, "t").is_err(), "{bad}");
        }
    }
}
