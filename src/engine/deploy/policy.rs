//! The deploy policy of a server root: which environment it is, whether it deploys in
//! release mode, and how much history it keeps. It belongs to the server, not to whoever
//! deploys: it lives in the agent's state folder as `policy.json`, is set with `devsky
//! agent config --root DIR ...`, and is read at every deployment, so the HTTP agent and
//! every `devsky agent --stdio` started over SSH follow the same rules without restarts.

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::apply::ApplyOptions;
use super::rollback::RollbackOptions;

/// The file name inside the state folder.
pub const FILE: &str = "policy.json";

/// How deployments into this root are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// `development`, `staging` or `production` (None: not said).
    pub environment: Option<String>,
    /// The root is a symlink to `releases/N`: each deploy builds a release and switches.
    pub release_mode: bool,
    /// Releases kept in release mode (the current one included).
    pub keep_releases: usize,
    /// Deployments whose archives, backups and maps are kept.
    pub keep: usize,
}

impl Default for Policy {
    fn default() -> Policy {
        let a = ApplyOptions::default();
        Policy {
            environment: None,
            release_mode: a.release_mode,
            keep_releases: a.keep_releases,
            keep: a.keep,
        }
    }
}

/// The environments a policy may name.
pub const ENVIRONMENTS: [&str; 3] = ["development", "staging", "production"];

impl Policy {
    /// The policy of the state folder `dir` (the default when none was set).
    pub fn load(dir: &Path) -> anyhow::Result<Policy> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Policy::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let p: Policy = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a deploy policy; fix it or set it again with `devsky agent config`",
                path.display()
            )
        })?;
        p.check()?;
        Ok(p)
    }

    /// Write the policy into the state folder `dir` (whole, then renamed into place).
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        self.check()?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut tmp, self)?;
        tmp.as_file().sync_all()?;
        tmp.persist(dir.join(FILE))
            .map_err(|e| e.error)
            .with_context(|| format!("cannot write {}", dir.join(FILE).display()))?;
        Ok(())
    }

    fn check(&self) -> anyhow::Result<()> {
        if let Some(e) = &self.environment
            && !ENVIRONMENTS.contains(&e.as_str())
        {
            bail!(
                "environment {e:?}: one of {} is expected",
                ENVIRONMENTS.join(", ")
            );
        }
        if self.keep_releases < 2 {
            bail!(
                "keep_releases {}: at least 2 (the current release and the one to roll back to)",
                self.keep_releases
            );
        }
        if self.keep < 1 {
            bail!("keep {}: at least 1", self.keep);
        }
        Ok(())
    }

    /// The options of a deploy under this policy.
    pub fn apply_options(&self, force: bool) -> ApplyOptions {
        ApplyOptions {
            force,
            release_mode: self.release_mode,
            keep_releases: self.keep_releases,
            keep: self.keep,
            ..ApplyOptions::default()
        }
    }

    /// The options of a rollback under this policy.
    pub fn rollback_options(&self, force: bool) -> RollbackOptions {
        RollbackOptions {
            force,
            keep: self.keep,
            ..RollbackOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_when_unset_round_trip_and_bad_files_are_clear() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(Policy::load(d.path()).unwrap(), Policy::default());
        let p = Policy {
            environment: Some("production".into()),
            release_mode: true,
            keep_releases: 3,
            keep: 4,
        };
        p.save(d.path()).unwrap();
        assert_eq!(Policy::load(d.path()).unwrap(), p);
        let o = p.apply_options(true);
        assert!(o.force && o.release_mode && o.keep_releases == 3 && o.keep == 4);

        let bad = Policy {
            environment: Some("prod".into()),
            ..Policy::default()
        };
        let e = bad.save(d.path()).unwrap_err().to_string();
        assert!(e.contains("development, staging, production"), "{e}");
        assert_eq!(
            Policy::load(d.path()).unwrap(),
            p,
            "a refused policy writes nothing"
        );

        std::fs::write(d.path().join(FILE), "{\"keep\": \"x\"}").unwrap();
        let e = format!("{:#}", Policy::load(d.path()).unwrap_err());
        assert!(e.contains("devsky agent config"), "{e}");
    }
}
