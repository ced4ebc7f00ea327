//! The one push path, used by `devsky deploy push` and by the Deploy screen alike:
//!
//! 1. [`plan`]: connect to the server and, while the project (what the server profile's
//!    file set covers) is mapped on a thread of its own, fetch the server's map, under a hold of its deploy lock ([`Remote::map_held`]);
//!    diff the two. The result, [`Planned`], keeps the connection and the hold.
//! 2. [`Planned::build`]: the package of the plan (or of the part of it that was ticked),
//!    compressed as the agent reads best.
//! 3. [`Planned::push`]: upload it and start the deployment from the held map: the server
//!    does not map its root a second time, and no other deployment ran in between. Then
//!    follow it with [`Remote::follow_logs`].
//!
//! A [`Planned`] that is dropped without a push releases its hold. A hold the server let go
//! (unused for a minute) only costs the push a second map of the root.

use std::path::Path;

use crate::engine::deploy::package::{Built, KEEP_PACKAGES, build_with, keep_newest_packages};
use crate::engine::deploy::plan::{FileSet, Plan, local_map};
use crate::engine::jobs::Progress;
use crate::engine::project::Project;
use crate::engine::remote::{Remote, package_dir};

/// A plan against a server, with the connection it was made over and (when asked for and
/// the agent holds) the hold of the map it was made from.
pub struct Planned {
    pub remote: Remote,
    pub plan: Plan,
    hold: Option<String>,
}

impl std::fmt::Debug for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planned")
            .field("remote", &self.remote.label())
            .field("uploads", &self.plan.uploads.len())
            .field("deletes", &self.plan.deletes.len())
            .field("held", &self.hold.is_some())
            .finish()
    }
}

/// Connect (`connect`, e.g. [`crate::engine::remote::connect`] for a profile: an SSH
/// session takes a while to set up) and make the plan, the project's map running all the
/// while. With `hold`, the server's map is made under the deploy lock, which the server
/// keeps for [`Planned::push`]; without, the plan is only to be looked at.
pub fn plan(
    project: &Project,
    files: &FileSet,
    connect: impl FnOnce() -> anyhow::Result<Remote>,
    hold: bool,
    progress: &Progress,
) -> anyhow::Result<Planned> {
    let tmp = tempfile::tempdir()?;
    let remote_map = tmp.path().join("remote.map");
    progress.set(0, None, "fetching the server's map and mapping the project");
    let (fetched, local) = std::thread::scope(|s| {
        let local = s.spawn(|| local_map(project, files, tmp.path(), progress));
        let fetched = connect().and_then(|remote| {
            let token = if hold {
                remote.map_held(&remote_map)?
            } else {
                remote.map(&remote_map)?;
                None
            };
            Ok(Planned {
                remote,
                plan: Plan::default(),
                hold: token,
            })
        });
        let local = local
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("mapping the project failed (a panic)")));
        (fetched, local)
    });
    // Dropped (the hold released) if anything below fails.
    let mut planned = fetched?;
    let local = local?;
    progress.check()?;
    planned.plan = local.plan(&remote_map)?;
    Ok(planned)
}

impl Planned {
    /// A connection without a plan or a hold: a push from it has the agent map its root
    /// while the package arrives.
    pub fn unheld(remote: Remote) -> Planned {
        Planned {
            remote,
            plan: Plan::default(),
            hold: None,
        }
    }

    /// Whether the server holds its deploy lock for this plan's push.
    pub fn held(&self) -> bool {
        self.hold.is_some()
    }

    /// Build the package of `selection` (the plan, or the part of it ticked) in the
    /// project's deploy folder, compressed as the agent reads best.
    pub fn build(
        &self,
        project_root: &Path,
        selection: &Plan,
        progress: &Progress,
    ) -> anyhow::Result<Built> {
        let packing = self.remote.packing();
        build_with(
            project_root,
            selection,
            &package_dir(project_root),
            packing,
            progress,
        )
    }

    /// Upload `built` and start deploying it from the held map; the deployment's id. The
    /// package's folder then keeps the newest [`KEEP_PACKAGES`] packages.
    pub fn push(&mut self, built: &Built, force: bool) -> anyhow::Result<i64> {
        let hold = self.hold.take();
        let id = self.remote.push(&built.path, force, hold.as_deref())?;
        if let Some(dir) = built.path.parent() {
            keep_newest_packages(dir, KEEP_PACKAGES);
        }
        Ok(id)
    }

    /// Let the server go on without this plan's push (also on drop).
    pub fn release(&mut self) {
        if let Some(h) = self.hold.take() {
            let _ = self.remote.release(&h);
        }
    }
}

impl Drop for Planned {
    fn drop(&mut self) {
        self.release();
    }
}
