//! `devsky completions bash|zsh|fish` (clap_complete) and `devsky man` (clap_mangen): shell
//! completion scripts and the man page, both made from the one clap definition.

use std::io::Write;

use clap::{Args, CommandFactory, ValueEnum};

use super::Cli;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh or fish. Install, e.g.:
    /// `devsky completions bash > ~/.local/share/bash-completion/completions/devsky`
    pub shell: Shell,
}

/// Prints the completion script for a shell.
pub fn completions(a: CompletionsArgs) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    let out = &mut std::io::stdout().lock();
    match a.shell {
        Shell::Bash => clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "devsky", out),
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "devsky", out),
        Shell::Fish => clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "devsky", out),
    }
    out.flush()?;
    Ok(0)
}

/// Prints the man page (roff): `devsky man | man -l -`, or save it as `devsky.1`.
pub fn man() -> anyhow::Result<i32> {
    let page = clap_mangen::Man::new(Cli::command());
    let mut buf = Vec::new();
    page.render(&mut buf)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&buf)?;
    out.flush()?;
    Ok(0)
}
