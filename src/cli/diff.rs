//! `devsky diff OLD NEW`: a unified diff of two files, or of everything that changed since
//! a snapshot (`--snapshot A [--to B]`). Exit status as diff(1): 0 same, 1 different.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::output::stderr_progress;
use crate::engine::diff::changes::{ChangeKind, Content};
use crate::engine::diff::text as textdiff;
use crate::engine::project::Project;
use crate::engine::snapshot::objects::ObjectStore;
use crate::engine::snapshot::{self, Target};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Old and new file.
    #[arg(num_args = 0..=2)]
    pub files: Vec<PathBuf>,
    /// Compare snapshot A (id or name) ...
    #[arg(long, value_name = "A")]
    pub snapshot: Option<String>,
    /// ... to snapshot B (id or name; default: the working tree).
    #[arg(long, value_name = "B", requires = "snapshot")]
    pub to: Option<String>,
    /// Lines of context.
    #[arg(short = 'U', long, default_value_t = 3)]
    pub context: usize,
    /// Project folder (default: the current folder).
    #[arg(short = 'C', long = "project", value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
}

pub fn run(a: DiffArgs) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    if let Some(snap) = &a.snapshot {
        let project = Project::locate(&a.project)?;
        let store = project.open_store(false)?;
        let (snap, to) = super::snapshot::resolve_pair(&store, snap, a.to.as_deref())?;
        let target = to.map_or(Target::Worktree, Target::Snapshot);
        let d = snapshot::diff_snapshot(&project, &store, snap, target, &stderr_progress())?;
        let set = snapshot::change_set(&project, &d, target == Target::Worktree);
        let objects = ObjectStore::open(&project.root)?;
        for c in &set.changes {
            let old = load(&c.old, &objects)?;
            let new = load(&c.new, &objects)?;
            let (ol, nl) = (
                if c.kind == ChangeKind::Added {
                    "/dev/null".to_string()
                } else {
                    format!("a/{}", c.path)
                },
                if c.kind == ChangeKind::Removed {
                    "/dev/null".to_string()
                } else {
                    format!("b/{}", c.path)
                },
            );
            write_one(
                &mut out, &old, &new, &ol, &nl, a.context, c.old_mode, c.new_mode,
            )?;
        }
        return Ok(if set.changes.is_empty() { 0 } else { 1 });
    }
    let [old, new] = a.files.as_slice() else {
        anyhow::bail!(
            "give two files (`devsky diff OLD NEW`) or a snapshot (`devsky diff --snapshot ID`)"
        );
    };
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
    };
    let (o, n) = (read(old)?, read(new)?);
    if o == n {
        return Ok(0);
    }
    write_one(
        &mut out,
        &o,
        &n,
        &old.display().to_string(),
        &new.display().to_string(),
        a.context,
        None,
        None,
    )?;
    Ok(1)
}

fn load(c: &Content, objects: &ObjectStore) -> anyhow::Result<Vec<u8>> {
    Ok(match c {
        Content::Missing => Vec::new(),
        Content::File(p) => std::fs::read(p)?,
        Content::Object(id) => objects.get(id)?,
        Content::Bytes(b) => b.as_ref().clone(),
    })
}

#[allow(clippy::too_many_arguments)]
fn write_one(
    out: &mut impl Write,
    old: &[u8],
    new: &[u8],
    ol: &str,
    nl: &str,
    context: usize,
    old_mode: Option<u32>,
    new_mode: Option<u32>,
) -> anyhow::Result<()> {
    if let (Some(m1), Some(m2)) = (old_mode, new_mode)
        && m1 != m2
    {
        writeln!(out, "mode {ol}: {m1:o} -> {m2:o}")?;
    }
    if old == new {
        return Ok(());
    }
    match textdiff::classify(old, new) {
        textdiff::Kind::Text => {
            let (o, n) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
            out.write_all(textdiff::unified_text(&o, &n, ol, nl, context).as_bytes())?;
        }
        kind => writeln!(
            out,
            "{kind} files {ol} and {nl} differ ({} -> {} bytes, blake3 {} -> {})",
            old.len(),
            new.len(),
            &blake3::hash(old).to_hex()[..16],
            &blake3::hash(new).to_hex()[..16],
            kind = kind.label()
        )?,
    }
    Ok(())
}
