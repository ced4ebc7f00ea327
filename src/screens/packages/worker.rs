//! The Packages screen's background reads, each a "latest request wins"
//! [`Worker`](crate::app::worker::Worker) with its own store connection: one reads the
//! lists (the store's packages and the project's copy of the registry index), one answers
//! the questions asked before acting (the resolution of an install, the Tune report of a
//! submit). Network work that changes something (sync, install, submit) runs as jobs.

use std::path::PathBuf;

use crate::app::screen::ScreenId;
use crate::app::worker::{ReplyTx, Worker};
use crate::engine::packages::tune::Finding;
use crate::engine::packages::tune_package;
use crate::engine::project::Project;
use crate::engine::registry::client::ReleaseInfo;
use crate::engine::registry::local::{LocalIndex, PackageVersions};
use crate::engine::registry::packages::{Resolution, Step, resolve_install};
use crate::engine::registry::releases::{self, Source};
use crate::engine::registry::{self, URL_SETTING};
use crate::store::packages as extra;
use crate::store::scripts as rows;
use crate::store::{STATE_DIR, Store, settings};

/// A package of the store, as the Project pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPackage {
    pub id: i64,
    pub name: String,
    pub version: String,
    /// 0 until the registry reserved one (made here) or the archive had none.
    pub sky_id: i64,
    /// Made here (a change script of this project), not installed from an archive.
    pub mine: bool,
    pub records: usize,
    /// Builds of it in My Builds.
    pub builds: usize,
}

/// What the lists show.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    /// The registry logged in to (`registry.url`), if any.
    pub registry: Option<String>,
    /// The index as last synced (empty before the first `u`).
    pub available: Vec<PackageVersions>,
    pub local: Vec<LocalPackage>,
}

/// A question asked before acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// What installing `want` (`name@=version`) would take.
    Resolve(String),
    /// The Tune report of the store's package.
    Tune(i64),
    /// The registry's release snapshots.
    Releases,
    /// What installing release snapshot NAME takes.
    Release(String),
}

/// Its answer.
#[derive(Debug)]
pub enum Answer {
    Resolved {
        want: String,
        result: Result<Resolution, String>,
    },
    Tuned {
        package: i64,
        label: String,
        result: Result<Vec<Finding>, String>,
    },
    /// The releases, and whether they are the project's copies (registry unreachable).
    Releases(Result<(Vec<ReleaseInfo>, bool), String>),
    Release {
        name: String,
        result: Result<(Source, Vec<Step>), String>,
    },
}

pub struct Workers {
    pub lists: Worker<(), Result<Lists, String>>,
    pub ask: Worker<Ask, Answer>,
}

fn open(db: &std::path::Path) -> Result<Store, String> {
    Store::open(db, false).map_err(|e| e.to_string())
}

/// Start the workers of a Packages screen.
pub fn start(project: &Project, tx: crate::app::events::EventTx) -> Workers {
    let replies = ReplyTx::new(ScreenId::Packages, tx);
    let db: PathBuf = project.root.join(STATE_DIR).join(crate::store::DB_FILE);
    let (db2, root) = (db.clone(), project.root.clone());
    let lists = Worker::start(
        "packages-lists",
        replies.clone(),
        move || (open(&db), root),
        |(store, root), ()| match store {
            Ok(s) => read_lists(root, s).map_err(|e| format!("{e:#}")),
            Err(e) => Err(e.clone()),
        },
    );
    let project = project.clone();
    let ask = Worker::start(
        "packages-ask",
        replies,
        move || open(&db2),
        move |store, q: Ask| answer(&project, store, q),
    );
    Workers { lists, ask }
}

fn read_lists(root: &std::path::Path, store: &Store) -> anyhow::Result<Lists> {
    let conn = store.conn();
    let registry = settings::get(conn, URL_SETTING)?;
    // The index is read only where a sync made it: no file is created by looking.
    let available = if root.join(STATE_DIR).join("registry.db").is_file() {
        LocalIndex::open(root)?.packages()?
    } else {
        vec![]
    };
    let builds = rows::builds(conn)?;
    let mut local = vec![];
    for p in rows::packages(conn)? {
        let (_, origin) = extra::extra(conn, p.id)?.unwrap_or_default();
        local.push(LocalPackage {
            records: extra::records(conn, p.id)?.len(),
            builds: builds.iter().filter(|b| b.package == p.id).count(),
            mine: origin.is_empty(),
            id: p.id,
            name: p.name,
            version: p.version,
            sky_id: p.sky_id,
        });
    }
    Ok(Lists {
        registry,
        available,
        local,
    })
}

fn answer(project: &Project, store: &Result<Store, String>, q: Ask) -> Answer {
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            return match q {
                Ask::Resolve(want) => Answer::Resolved {
                    want,
                    result: Err(e.clone()),
                },
                Ask::Tune(package) => Answer::Tuned {
                    package,
                    label: format!("#{package}"),
                    result: Err(e.clone()),
                },
                Ask::Releases => Answer::Releases(Err(e.clone())),
                Ask::Release(name) => Answer::Release {
                    name,
                    result: Err(e.clone()),
                },
            };
        }
    };
    match q {
        Ask::Resolve(want) => {
            let result = registry::logged_in(&project.root, store)
                .and_then(|_| resolve_install(project, store, &want))
                .map_err(|e| format!("{e:#}"));
            Answer::Resolved { want, result }
        }
        Ask::Releases => {
            Answer::Releases(releases::list(project, store).map_err(|e| format!("{e:#}")))
        }
        Ask::Release(name) => {
            let result = releases::prepare(project, store, &name)
                .map(|(_, source, steps)| (source, steps))
                .map_err(|e| format!("{e:#}"));
            Answer::Release { name, result }
        }
        Ask::Tune(package) => match rows::package(store.conn(), package) {
            Ok(Some(p)) => Answer::Tuned {
                package,
                label: format!("{} {}", p.name, p.version),
                result: tune_package(store, &p).map_err(|e| format!("{e:#}")),
            },
            Ok(None) => Answer::Tuned {
                package,
                label: format!("#{package}"),
                result: Err(format!("package #{package} is gone")),
            },
            Err(e) => Answer::Tuned {
                package,
                label: format!("#{package}"),
                result: Err(e.to_string()),
            },
        },
    }
}
