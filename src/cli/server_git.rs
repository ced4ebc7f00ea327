//! `devsky server add NAME --git URL --branch B [--provider github|gitlab|bitbucket]
//! [--api URL] [--repo OWNER/REPO] [--mode push|pr|direct] [--token-env VAR | --token -]`:
//! a Git repository as a deploy target (`crate::engine::remote::git`). The token (for pull
//! requests, and for `git` over https) comes from an environment variable or stdin (kept in
//! `.devsky/secrets/NAME.key`, mode 0600); it is never stored in the store nor printed.

use anyhow::bail;
use clap::Args;

use super::server::AddArgs;
use crate::engine::remote::git::GitOptions;
use crate::engine::remote::{ServerProfile, add_server, key_source, remove_server, store_key};

/// The options of a Git target.
#[derive(Debug, Args, Default)]
pub struct GitArgs {
    /// Deploy by committing to a branch of this Git repository (https://, ssh://,
    /// USER@HOST:PATH or file://), through the system's git.
    #[arg(long, value_name = "URL", conflicts_with_all = ["url", "ssh", "ftp", "sftp"])]
    pub git: Option<String>,
    /// With --git: the target branch.
    #[arg(long, value_name = "BRANCH", requires = "git")]
    pub branch: Option<String>,
    /// With --git: what a deploy does: `push` (a branch of its own), `pr` (that branch and
    /// a pull/merge request into --branch), `direct` (commit onto --branch). Default: pr
    /// with --provider, else push.
    #[arg(long, value_name = "MODE", requires = "git")]
    pub mode: Option<String>,
    /// With --git: the host whose API opens pull requests: github, gitlab or bitbucket.
    #[arg(long, value_name = "NAME", requires = "git")]
    pub provider: Option<String>,
    /// With --provider: the API's base URL (GitHub Enterprise, self-hosted GitLab).
    #[arg(long, value_name = "URL", requires = "provider")]
    pub api: Option<String>,
    /// With --provider: the repository on the host (default: from the URL).
    #[arg(long, value_name = "OWNER/REPO", requires = "provider")]
    pub repo: Option<String>,
    /// With --git: read the API token from this environment variable.
    #[arg(long, value_name = "VAR", requires = "git", conflicts_with = "token")]
    pub token_env: Option<String>,
    /// With --git: `-` reads the token from stdin (stored in .devsky/secrets, mode 0600).
    #[arg(long, value_name = "-", requires = "git", allow_hyphen_values = true)]
    pub token: Option<String>,
}

/// `server add NAME --git URL ...`.
pub fn add_git(a: &AddArgs, url: &str) -> anyhow::Result<i32> {
    let g = &a.git;
    if a.key.is_some() || a.key_env.is_some() {
        bail!("a Git target takes --token-env VAR or --token -, not --key");
    }
    let Some(branch) = g.branch.clone() else {
        bail!("--git needs --branch B: the branch deploys go to");
    };
    if url.starts_with('-') || url.chars().any(|c| c.is_control() || c == ' ') {
        bail!("--git {url:?} is not a repository URL");
    }
    let opts = GitOptions {
        branch,
        mode: g
            .mode
            .clone()
            .unwrap_or_else(|| if g.provider.is_some() { "pr" } else { "push" }.to_string()),
        provider: g.provider.clone(),
        api: g.api.clone(),
        repo: g.repo.clone(),
    };
    opts.check(url)?;
    if let Some(v) = &g.token_env
        && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        bail!("--token-env names an environment variable");
    }
    let token = match g.token.as_deref() {
        Some("-") => {
            let mut t = String::new();
            std::io::stdin().read_line(&mut t)?;
            let t = t.trim().to_string();
            if t.is_empty() {
                bail!("the token read from stdin is empty");
            }
            Some(t)
        }
        // A token on the command line would show in the process list and shell history.
        Some(_) => bail!("--token takes `-` (read from stdin); or use --token-env VAR"),
        None => None,
    };
    if opts.mode == "pr" && token.is_none() && g.token_env.is_none() {
        bail!("--mode pr opens pull requests with a token: give --token-env VAR or --token -");
    }
    let project = crate::engine::project::Project::locate(
        &a.project
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from(".")),
    )?;
    let mut store = project.open_store(true)?;
    let p = ServerProfile {
        id: 0,
        name: a.name.clone(),
        environment: a.environment.clone(),
        transport: "git".into(),
        url: Some(url.to_string()),
        key_env: g.token_env.clone(),
        ssh: None,
        remote_root: None,
        is_default: a.default,
        created: crate::store::now(),
        tls_ca: None,
        tls_fingerprint: None,
        include: a.globs.include.clone(),
        exclude: a.globs.exclude.clone(),
        options: serde_json::to_value(&opts)?,
    };
    add_server(&mut store, &p)?;
    if let Some(t) = &token
        && let Err(e) = store_key(&project.root, &a.name, t)
    {
        let _ = remove_server(&mut store, &project.root, &a.name);
        return Err(e);
    }
    println!(
        "added server {} ({}, git {} branch {}, mode {}{}); token: {}",
        p.name,
        p.environment,
        url,
        opts.branch,
        opts.mode,
        opts.provider
            .as_deref()
            .map(|v| format!(", {v}"))
            .unwrap_or_default(),
        key_source(&project.root, &p)
    );
    Ok(0)
}
