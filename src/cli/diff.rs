//! `devsky diff OLD NEW`: a unified diff of two files, or of everything that changed since
//! a snapshot (`--snapshot A [--to B]`); `--json` for scripts. Exit status as diff(1): 0
//! same, 1 different.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use serde::Serialize;

use super::output::{print_json, stderr_progress};
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
    /// Print every changed file as JSON: kind, sizes, modes, blake3, lines added and
    /// removed, and its unified diff (`patch`).
    #[arg(long)]
    pub json: bool,
    /// Project folder (default: the current folder).
    #[arg(short = 'C', long = "project", value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
}

/// One changed file, as `--json` prints it.
#[derive(Serialize)]
struct FileOut {
    /// The path (snapshot diffs) or the two files' names.
    old: String,
    new: String,
    /// added, removed, modified, mode_changed, type_changed (snapshot diffs) or modified.
    kind: ChangeKind,
    /// text, binary or huge: `patch` is there for text only.
    content: &'static str,
    old_size: usize,
    new_size: usize,
    old_blake3: String,
    new_blake3: String,
    old_mode: Option<u32>,
    new_mode: Option<u32>,
    /// Lines added and removed (text only).
    added: usize,
    removed: usize,
    /// The unified diff (`---`/`+++` headers, `@@` hunks), empty when the bytes are equal.
    patch: String,
}

/// What `--json` prints: every changed file; `different` is the exit status's meaning.
#[derive(Serialize)]
struct DiffOut {
    different: bool,
    files: Vec<FileOut>,
}

pub fn run(a: DiffArgs) -> anyhow::Result<i32> {
    let files = if let Some(snap) = &a.snapshot {
        let project = Project::locate(&a.project)?;
        let store = project.open_store(false)?;
        let (snap, to) = super::snapshot::resolve_pair(&store, snap, a.to.as_deref())?;
        let target = to.map_or(Target::Worktree, Target::Snapshot);
        let d = snapshot::diff_snapshot(&project, &store, snap, target, &stderr_progress())?;
        let set = snapshot::change_set(&project, &d, target == Target::Worktree);
        let objects = ObjectStore::open(&project.root)?;
        let mut files = Vec::with_capacity(set.changes.len());
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
            let (om, nm) = (c.old_mode, c.new_mode);
            files.push(one(&old, &new, ol, nl, c.kind, a.context, om, nm));
        }
        files
    } else {
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
            Vec::new()
        } else {
            let (ol, nl) = (old.display().to_string(), new.display().to_string());
            vec![one(
                &o,
                &n,
                ol,
                nl,
                ChangeKind::Modified,
                a.context,
                None,
                None,
            )]
        }
    };
    let status = i32::from(!files.is_empty());
    if a.json {
        print_json(&DiffOut {
            different: !files.is_empty(),
            files,
        })?;
    } else {
        let mut out = std::io::stdout().lock();
        for f in &files {
            write_one(&mut out, f)?;
        }
    }
    Ok(status)
}

fn load(c: &Content, objects: &ObjectStore) -> anyhow::Result<Vec<u8>> {
    Ok(match c {
        Content::Missing => Vec::new(),
        Content::File(p) => std::fs::read(p)?,
        Content::Object(id) => objects.get(id)?,
        Content::Bytes(b) => b.as_ref().clone(),
    })
}

/// The diff of one file's two sides.
#[allow(clippy::too_many_arguments)]
fn one(
    old: &[u8],
    new: &[u8],
    ol: String,
    nl: String,
    kind: ChangeKind,
    context: usize,
    old_mode: Option<u32>,
    new_mode: Option<u32>,
) -> FileOut {
    let class = textdiff::classify(old, new);
    let patch = if old != new && class == textdiff::Kind::Text {
        let (o, n) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
        textdiff::unified_text(&o, &n, &ol, &nl, context)
    } else {
        String::new()
    };
    // Past the `---`/`+++` header, every `+`/`-` line is a line added or removed.
    let body = patch.lines().skip(2);
    let count = |c: char| body.clone().filter(|l| l.starts_with(c)).count();
    FileOut {
        added: count('+'),
        removed: count('-'),
        content: match class {
            textdiff::Kind::Text => "text",
            textdiff::Kind::Binary => "binary",
            textdiff::Kind::Huge => "huge",
        },
        old: ol,
        new: nl,
        kind,
        old_size: old.len(),
        new_size: new.len(),
        old_blake3: blake3::hash(old).to_hex().to_string(),
        new_blake3: blake3::hash(new).to_hex().to_string(),
        old_mode,
        new_mode,
        patch,
    }
}

/// One file's diff for people: a mode line, then the patch or a line for binary or huge
/// contents.
fn write_one(out: &mut impl Write, f: &FileOut) -> anyhow::Result<()> {
    let (ol, nl) = (&f.old, &f.new);
    if let (Some(m1), Some(m2)) = (f.old_mode, f.new_mode)
        && m1 != m2
    {
        writeln!(out, "mode {ol}: {m1:o} -> {m2:o}")?;
    }
    if f.old_blake3 == f.new_blake3 {
        return Ok(());
    }
    if f.content == "text" {
        out.write_all(f.patch.as_bytes())?;
    } else {
        let label = if f.content == "huge" {
            textdiff::Kind::Huge.label()
        } else {
            textdiff::Kind::Binary.label()
        };
        writeln!(
            out,
            "{label} files {ol} and {nl} differ ({} -> {} bytes, blake3 {} -> {})",
            f.old_size,
            f.new_size,
            &f.old_blake3[..16],
            &f.new_blake3[..16],
        )?;
    }
    Ok(())
}
