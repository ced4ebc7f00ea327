//! The stage: a folder beside the root, on its file system, where a deployment's uploads
//! are unpacked before they are renamed into place (`.<rootname>.devsky-stage-<id>`).
//!
//! Each file's inode is made in the root folder it is going to (an unnamed file there,
//! linked into the stage once written), so new files sit where a copy made in place would.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};

use super::fsops::{remove_tree, sync_dir, sync_filesystem};
use super::package::Package;
use super::runs::in_parallel;
use crate::engine::jobs::Progress;

/// `.<rootname>.devsky-stage-<id>` beside the root.
pub(crate) fn stage_path(root: &Path, id: i64) -> anyhow::Result<PathBuf> {
    let parent = root
        .parent()
        .context("the root has no parent folder to stage in")?;
    let name = root
        .file_name()
        .context("the root has no name")?
        .to_string_lossy();
    Ok(parent.join(format!(".{name}.devsky-stage-{id}")))
}

/// Every stage folder of `root` beside it (`.<rootname>.devsky-stage-<id>`); none when the
/// root's parent cannot be listed.
pub(crate) fn stages_of(root: &Path) -> Vec<PathBuf> {
    let (Some(parent), Some(name)) = (root.parent(), root.file_name()) else {
        return Vec::new();
    };
    let prefix = format!(".{}.devsky-stage-", name.to_string_lossy());
    let Ok(rd) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.strip_prefix(&prefix)
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path())
        .collect()
}

/// Unpack every upload of `pkg` into `stage` as `<its index in the manifest>`, then make
/// them durable at once.
pub(crate) fn stage_uploads(
    pkg: &Package,
    root: &Path,
    stage: &Path,
    progress: &Progress,
) -> anyhow::Result<()> {
    let uploads: Vec<(usize, &super::manifest::Upload)> =
        pkg.manifest.uploads.iter().enumerate().collect();
    // A few threads, each with its own reader over a run of uploads.
    in_parallel(&uploads, |run| {
        let mut reader = pkg.reader()?;
        let mut near = Near::new(root);
        for &(i, u) in run {
            progress.check()?;
            let dir = near.folder_of(&u.path);
            reader.extract_near(u, &stage.join(i.to_string()), dir)?;
        }
        Ok(())
    })?;
    sync_filesystem(stage)?;
    sync_dir(stage);
    Ok(())
}

/// The folder of the root where an upload's inode is best made: its own folder, or the
/// nearest one above it that exists (a real folder, not a symlink), remembered by path.
pub(super) struct Near<'a> {
    root: &'a Path,
    known: std::collections::HashMap<String, Option<PathBuf>>,
}

impl<'a> Near<'a> {
    pub(super) fn new(root: &'a Path) -> Near<'a> {
        Near {
            root,
            known: std::collections::HashMap::new(),
        }
    }

    pub(super) fn folder_of(&mut self, path: &str) -> Option<&Path> {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p).to_string();
        if !self.known.contains_key(&parent) {
            let mut rel = parent.as_str();
            let found = loop {
                let abs = self.root.join(rel);
                if std::fs::symlink_metadata(&abs).is_ok_and(|m| m.is_dir()) {
                    break Some(abs);
                }
                match rel.rsplit_once('/') {
                    Some((up, _)) => rel = up,
                    None if !rel.is_empty() => rel = "",
                    None => break None,
                }
            };
            self.known.insert(parent.clone(), found);
        }
        self.known[&parent].as_deref()
    }
}

/// Create the staging folder beside the root, on the root's filesystem.
pub(crate) fn make_stage(root: &Path, id: i64) -> anyhow::Result<PathBuf> {
    let stage = stage_path(root, id)?;
    remove_tree(&stage)?;
    std::fs::create_dir(&stage).map_err(|e| {
        anyhow!(
            "cannot create the staging folder {} beside the root ({e}); the root's parent \
             folder must be writable by the agent so that files can be renamed into place atomically",
            stage.display()
        )
    })?;
    let (a, b) = (
        std::fs::metadata(&stage)?.dev(),
        std::fs::metadata(root)?.dev(),
    );
    if a != b {
        remove_tree(&stage)?;
        bail!(
            "the staging folder {} is on another filesystem than the root; renames into the \
             root would not be atomic",
            stage.display()
        );
    }
    Ok(stage)
}
