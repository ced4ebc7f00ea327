//! `devsky task syntax`: a checker command per extension (defaults `.php` -> `php -l`,
//! `.js` -> `node --check`; the setting `task.syntax.EXT` or `--cmd EXT=COMMAND` override
//! them) run on every file with that extension, in parallel (2..N workers), its output
//! collected. The command is split on whitespace (no shell) and the file's path is added
//! as its last argument; it runs in the project folder with no input, and is killed after
//! a timeout (60 s, `--timeout`). A checker that is
//! not installed is reported once, not per file.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::{Files, Table};
use crate::engine::jobs::Progress;
use crate::engine::replace::{Problem, ProblemKind};

/// Output kept per file (the rest is cut).
const MAX_OUTPUT: usize = 16 << 10;

/// The built-in checkers.
pub const DEFAULTS: &[(&str, &str)] = &[("php", "php -l"), ("js", "node --check")];

/// Checkers by extension (lowercase, no dot): the defaults, then `settings` (pairs of
/// `task.syntax.EXT` keys' EXT and value), then `overrides` (`EXT=COMMAND`).
pub fn checkers(
    settings: &[(String, String)],
    overrides: &[String],
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut m = BTreeMap::new();
    let mut put = |ext: &str, cmd: &str| -> Result<()> {
        let ext = ext.trim().trim_start_matches('.').to_ascii_lowercase();
        let argv: Vec<String> = cmd.split_whitespace().map(String::from).collect();
        if ext.is_empty() || ext.contains(['/', '.']) {
            bail!("{ext:?} is not a file extension (say php, js, ...)");
        }
        if argv.is_empty() {
            m.remove(&ext); // an empty command turns the check off
        } else {
            m.insert(ext, argv);
        }
        Ok(())
    };
    for (e, c) in DEFAULTS {
        put(e, c)?;
    }
    for (e, c) in settings {
        put(e, c)?;
    }
    for o in overrides {
        let Some((e, c)) = o.split_once('=') else {
            bail!("--cmd {o:?}: say EXT=COMMAND, e.g. php='php -l'");
        };
        put(e, c)?;
    }
    Ok(m)
}

/// The extension of `rel`, lowercase.
fn ext(rel: &str) -> Option<String> {
    let name = rel.rsplit('/').next()?;
    let (stem, e) = name.rsplit_once('.')?;
    (!stem.is_empty()).then(|| e.to_ascii_lowercase())
}

/// What one file gave.
enum Checked {
    Ok(String),
    Failed(String),
    Missing(String),
    Error(String),
}

/// Run the checkers over the files, `workers` at a time (at least 2), each killed after
/// `timeout`.
pub fn run(
    files: &Files,
    checkers: &BTreeMap<String, Vec<String>>,
    workers: usize,
    timeout: Duration,
    progress: &Progress,
) -> Result<Table> {
    let mut t = Table::new("syntax", &["path", "checker", "result", "output"]);
    t.problems = files.problems.clone();
    let todo: Vec<(&String, &Vec<String>)> = files
        .paths
        .iter()
        .filter_map(|p| Some((p, checkers.get(&ext(p)?)?)))
        .collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Checked>>> = Mutex::new((0..todo.len()).map(|_| None).collect());
    let missing: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..workers.max(2).min(todo.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= todo.len() || progress.is_cancelled() {
                        break;
                    }
                    let (rel, argv) = todo[i];
                    let skip = missing.lock().unwrap().contains_key(&argv[0]);
                    let r = if skip {
                        Checked::Missing(String::new())
                    } else {
                        check(files, rel, argv, timeout)
                    };
                    if let Checked::Missing(why) = &r
                        && !why.is_empty()
                    {
                        missing
                            .lock()
                            .unwrap()
                            .entry(argv[0].clone())
                            .or_insert(why.clone());
                    }
                    results.lock().unwrap()[i] = Some(r);
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress.set(n as u64, Some(todo.len() as u64), "syntax");
                }
            });
        }
    });
    progress.check()?;
    let (mut good, mut unchecked) = (0, 0);
    for ((rel, argv), r) in todo.iter().zip(results.into_inner().unwrap()) {
        let checker = argv.join(" ");
        let row = |res: &str, out: String| {
            vec![
                rel.as_str().into(),
                checker.as_str().into(),
                res.into(),
                out.into(),
            ]
        };
        match r.expect("every file checked") {
            Checked::Ok(out) => {
                good += 1;
                t.rows.push(row("ok", out));
            }
            Checked::Failed(out) => {
                t.failed += 1;
                t.rows.push(row("error", out));
            }
            Checked::Missing(_) => unchecked += 1,
            Checked::Error(why) => t.problems.push(Problem {
                place: rel.to_string(),
                kind: ProblemKind::Unreadable,
                reason: why,
            }),
        }
    }
    for (prog, why) in missing.into_inner().unwrap() {
        t.problems.push(Problem {
            place: prog.clone(),
            kind: ProblemKind::Unreadable,
            reason: format!("checker {prog:?} cannot run ({why}); its files were not checked"),
        });
    }
    t.summary = format!(
        "{} file(s) checked: {good} ok, {} with errors; {unchecked} not checked (checker missing)",
        good + t.failed,
        t.failed
    );
    Ok(t)
}

/// Run `argv` on one file; killed (a failure) after `timeout`. Only the first
/// [`MAX_OUTPUT`] bytes of its output are kept (the rest is read and dropped).
fn check(files: &Files, rel: &str, argv: &[String], timeout: Duration) -> Checked {
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .arg(files.root.join(rel))
        .current_dir(&files.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // its own process group, so a timeout kills what it started too
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Checked::Missing("not found on PATH".into());
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Checked::Missing(e.to_string());
        }
        Err(e) => return Checked::Error(format!("{}: {e}", argv[0])),
    };
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(mut r) = r {
                let _ = r.by_ref().take(MAX_OUTPUT as u64).read_to_end(&mut kept);
                let _ = std::io::copy(&mut r, &mut std::io::sink());
            }
            kept
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                // SAFETY: kill(2) on the group of a child we started (its pid is the pgid).
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut bytes = out.join().unwrap_or_default();
    bytes.extend(err.join().unwrap_or_default());
    let mut text = String::from_utf8_lossy(&bytes).trim().to_string();
    if text.len() > MAX_OUTPUT {
        let mut at = MAX_OUTPUT;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push_str(" ...");
    }
    match status {
        Some(s) if s.success() => Checked::Ok(text),
        Some(_) => Checked::Failed(text),
        None => Checked::Failed(format!(
            "killed after {} s (--timeout){}{text}",
            timeout.as_secs(),
            if text.is_empty() { "" } else { "\n" }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkers_are_overridden_and_turned_off() {
        let m = checkers(
            &[("PY".into(), "python3 -m py_compile".into())],
            &["js=".into(), ".php=php -n -l".into()],
        )
        .unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["php", "py"]);
        assert_eq!(m["php"], ["php", "-n", "-l"]);
        assert!(checkers(&[], &["php".into()]).is_err());
        assert!(checkers(&[], &["a/b=x".into()]).is_err());
        assert_eq!(ext("a/b.PHP").as_deref(), Some("php"));
        assert_eq!(ext("a/.htaccess"), None);
    }
}
