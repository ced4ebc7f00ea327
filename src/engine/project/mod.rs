//! Finding a project and its store from a path the user gave.
//!
//! Like git with `.git`, a path inside a project finds the nearest ancestor that holds a
//! `.devsky/dev.db`; a folder with none is a new project rooted at the path itself.

pub mod walk;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::store::{DB_FILE, STATE_DIR, Store};

/// A project: a folder tree with devsky's state in `.devsky/`.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// The project that `path` belongs to. `path` must be an existing folder.
    pub fn locate(path: &Path) -> anyhow::Result<Project> {
        if !path.exists() {
            bail!(
                "{} does not exist. Give the path of a project folder.",
                path.display()
            );
        }
        let abs = path
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", path.display()))?;
        if !abs.is_dir() {
            bail!(
                "{} is not a folder. Give the path of a project folder.",
                path.display()
            );
        }
        let root = abs
            .ancestors()
            .find(|dir| dir.join(STATE_DIR).join(DB_FILE).is_file())
            .unwrap_or(&abs)
            .to_path_buf();
        Ok(Project { root })
    }

    /// Whether the project already has a store.
    pub fn has_store(&self) -> bool {
        self.root.join(STATE_DIR).join(DB_FILE).is_file()
    }

    /// Open the project's store; with `create`, make it when missing.
    pub fn open_store(&self, create: bool) -> anyhow::Result<Store> {
        Ok(Store::open_project(&self.root, create)?)
    }

    /// `path` relative to the root, `/`-separated, or None when it is outside the project.
    pub fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Some(parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_nearest_project_above() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        assert_eq!(
            Project::locate(&root.join("a/b")).unwrap().root,
            root.join("a/b")
        );
        Store::open_project(&root, true).unwrap();
        let p = Project::locate(&root.join("a/b")).unwrap();
        assert_eq!(p.root, root);
        assert_eq!(p.relative(&root.join("a/b/c.php")).unwrap(), "a/b/c.php");
        assert_eq!(p.relative(Path::new("/elsewhere")), None);
    }

    #[test]
    fn missing_path_and_file_path_are_clear_errors() {
        let err = Project::locate(Path::new("/no/such/place"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = Project::locate(f.path()).unwrap_err().to_string();
        assert!(err.contains("not a folder"), "{err}");
    }
}
