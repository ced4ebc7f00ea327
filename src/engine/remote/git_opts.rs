//! The Git target's settings and its use of the system's `git` ([`super::git`]): the
//! profile's options ([`GitOptions`]: branch, mode, provider, API base, repository), the
//! checks of branch names and repository paths, and running `git` with no prompt and the
//! token, for an `https://` remote, in git's environment (`GIT_CONFIG_*`) only.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::git_api::{self, Provider, PullRequest};

/// A Git target's settings (the profile's `options`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitOptions {
    /// The target branch.
    pub branch: String,
    /// `push`, `pr` or `direct`.
    pub mode: String,
    /// `github`, `gitlab`, `bitbucket` (needed for `pr`).
    #[serde(default)]
    pub provider: Option<String>,
    /// The API's base URL (default: the public service's).
    #[serde(default)]
    pub api: Option<String>,
    /// The repository on the host (`owner/repo`; default: from the URL).
    #[serde(default)]
    pub repo: Option<String>,
}

pub const MODES: &[&str] = &["push", "pr", "direct"];

/// A branch name git takes and no shell or URL can be fooled with.
pub fn check_branch(b: &str) -> anyhow::Result<()> {
    let ok = !b.is_empty()
        && b.len() <= 200
        && !b.starts_with(['-', '/', '.'])
        && !b.ends_with(['/', '.'])
        && !b.contains("..")
        && !b.contains("//")
        && !b.contains("@{")
        && !b.ends_with(".lock")
        && b.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if !ok {
        bail!("{b:?} is not a branch name devsky uses (letters, digits, '-', '_', '.', '/')");
    }
    Ok(())
}

/// The repository path on the host from a remote URL: `https://host/a/b.git`,
/// `git@host:a/b.git`, `ssh://git@host/a/b` -> `a/b`.
pub fn repo_from_url(url: &str) -> Option<String> {
    let rest = match url.split_once("://") {
        Some((_, r)) => r.split_once('/')?.1,
        None => url.split_once(':')?.1,
    };
    let p = rest.trim_matches('/').trim_end_matches(".git");
    (p.contains('/')).then(|| p.to_string())
}

impl GitOptions {
    /// Check the options (and that `pr` has a provider).
    pub fn check(&self, url: &str) -> anyhow::Result<()> {
        check_branch(&self.branch)?;
        if !MODES.contains(&self.mode.as_str()) {
            bail!("--mode is push, pr or direct");
        }
        if let Some(p) = &self.provider {
            Provider::parse(p)?;
        }
        if self.mode == "pr" {
            let Some(p) = &self.provider else {
                bail!("--mode pr needs --provider github|gitlab|bitbucket");
            };
            let p = Provider::parse(p)?;
            let repo = self.repo.clone().or_else(|| repo_from_url(url));
            let Some(repo) = repo else {
                bail!("cannot tell the repository from {url}: give --repo OWNER/REPO");
            };
            git_api::request_of(
                p,
                &PullRequest {
                    repo: &repo,
                    head: "h",
                    base: &self.branch,
                    title: "",
                    body: "",
                },
                "",
            )?;
        }
        if let Some(a) = &self.api
            && !(a.starts_with("https://") || a.starts_with("http://"))
        {
            bail!("--api is an http(s):// base URL");
        }
        Ok(())
    }
}

/// The environment of `git`: no prompts, stable messages, and for an https:// remote with
/// a token, the header that authenticates (GIT_CONFIG_*, never argv).
pub fn git_env(url: &str, p: Option<Provider>, token: Option<&str>) -> Vec<(String, String)> {
    use base64::Engine as _;
    let mut env = vec![
        ("GIT_TERMINAL_PROMPT".to_string(), "0".to_string()),
        ("LC_ALL".to_string(), "C".to_string()),
    ];
    if let (Some(t), true) = (token, url.to_ascii_lowercase().starts_with("https://")) {
        let user = p.map_or("x-access-token", Provider::git_user);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{t}"));
        env.push(("GIT_CONFIG_COUNT".into(), "1".into()));
        env.push(("GIT_CONFIG_KEY_0".into(), "http.extraHeader".into()));
        env.push((
            "GIT_CONFIG_VALUE_0".into(),
            format!("Authorization: Basic {basic}"),
        ));
    }
    env
}

/// Run `git ARGS` in `dir`; its stdout, or an error with its stderr.
pub fn run_git(dir: &Path, env: &[(String, String)], args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run git: is it installed (apt-get install git)?")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "git {} failed: {}",
            args.first().copied().unwrap_or(""),
            err.trim().chars().take(2000).collect::<String>()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_paths_and_branch_names() {
        assert_eq!(
            repo_from_url("https://github.com/acme/site.git").as_deref(),
            Some("acme/site")
        );
        assert_eq!(
            repo_from_url("git@gitlab.com:grp/sub/proj.git").as_deref(),
            Some("grp/sub/proj")
        );
        assert_eq!(repo_from_url("file:///srv/x.git"), Some("srv/x".into()));
        assert_eq!(repo_from_url("https://host/x"), None);
        for ok in ["main", "release/1.2", "feature_x"] {
            check_branch(ok).unwrap();
        }
        for bad in [
            "", "-x", "a..b", "a b", "x.lock", "/a", "a/", "a@{1}", "a;rm",
        ] {
            assert!(check_branch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_token_goes_in_the_environment_only_for_https() {
        let env = git_env("https://h/a/b.git", Some(Provider::GitLab), Some("tok"));
        let v = &env
            .iter()
            .find(|(k, _)| k == "GIT_CONFIG_VALUE_0")
            .unwrap()
            .1;
        assert_eq!(v, "Authorization: Basic b2F1dGgyOnRvaw==");
        assert!(
            git_env("file:///x", None, Some("tok"))
                .iter()
                .all(|(_, v)| !v.contains("Basic"))
        );
    }
}
