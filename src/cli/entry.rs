//! The process's front door, around clap: `devsky -C DIR ...` (run as if started in DIR,
//! as git does), quiet ends on a closed pipe, "unknown command, did you mean ...", and with
//! `--json` a failure as a JSON object on stdout as well as the message on stderr.

use std::ffi::OsString;
use std::path::Path;

use clap::{CommandFactory, Parser};

use super::Cli;

/// Runs devsky with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    // Run by ssh as SSH_ASKPASS for an SFTP connection devsky started: answer and stop.
    if let Some(pw) = crate::engine::remote::sftp::askpass_answer() {
        println!("{pw}");
        return 0;
    }
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if let Err(e) = leading_dir(&mut args) {
        eprintln!("devsky: {e:#}");
        return 2;
    }
    let json = args.iter().any(|a| a == "--json");
    if let Some(first) = args.get(1)
        && let Some(msg) = unknown_command(Path::new(first))
    {
        return fail(&anyhow::anyhow!(msg), 2, json);
    }
    let cli = Cli::parse_from(&args);
    if !matches!(
        cli.command,
        Some(super::Command::Serve(_)) | Some(super::Command::Agent(_))
    ) {
        // A closed pipe (`devsky map | head`) ends the process quietly, as it does `cat`.
        // The agent keeps the default of ignoring it: a client that goes away must not kill
        // a deployment halfway (its writes fail instead, and it finishes or undoes).
        restore_sigpipe();
    }
    match super::run(cli) {
        Ok(code) => code,
        Err(e) => fail(&e, 1, json),
    }
}

/// `devsky -C DIR REST...`: change to DIR and drop the two words.
fn leading_dir(args: &mut Vec<OsString>) -> anyhow::Result<()> {
    while args.len() > 1 && (args[1] == "-C" || args[1] == "--project") {
        let Some(dir) = args.get(2).cloned() else {
            anyhow::bail!("-C needs a folder: devsky -C DIR COMMAND");
        };
        std::env::set_current_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot change to {}: {e}", Path::new(&dir).display()))?;
        args.drain(1..3);
    }
    Ok(())
}

fn fail(e: &anyhow::Error, code: i32, json: bool) -> i32 {
    eprintln!("devsky: {e:#}");
    if json {
        let v = serde_json::json!({ "error": format!("{e:#}"), "code": code });
        println!("{v}");
    }
    code
}

/// The first word, when it is neither a subcommand nor an existing folder (where the TUI's
/// folder goes) and looks like a mistyped subcommand: the message, with the nearest
/// commands.
fn unknown_command(path: &Path) -> Option<String> {
    let word = path.to_str()?;
    if path.exists() || word.contains('/') || word.starts_with('.') || word.starts_with('-') {
        return None;
    }
    let cmd = Cli::command();
    if cmd
        .get_subcommands()
        .any(|c| c.get_name() == word || c.get_all_aliases().any(|a| a == word))
        || word == "help"
    {
        return None;
    }
    let mut near: Vec<(usize, String)> = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| (distance(word, c.get_name()), c.get_name().to_string()))
        .filter(|(d, name)| *d <= 2.max(name.len() / 3) || name.starts_with(word))
        .collect();
    near.sort();
    let mut msg = format!("unknown command {word:?}");
    if !near.is_empty() {
        let names: Vec<&str> = near.iter().take(3).map(|(_, n)| n.as_str()).collect();
        msg += &format!("; did you mean {}?", names.join(", "));
    }
    msg += " (`devsky --help` lists the commands; to open a folder, name one that exists)";
    Some(msg)
}

/// Levenshtein distance of two short words.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_suggestions() {
        assert_eq!(distance("snapshto", "snapshot"), 2);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("deploy", "deploy"), 0);
        let m = unknown_command(Path::new("snapshto")).unwrap();
        assert!(m.contains("did you mean snapshot"), "{m}");
        assert!(unknown_command(Path::new("/no/such/dir")).is_none());
        assert!(unknown_command(Path::new(".")).is_none());
    }
}
