//! Packages: the team registry from the TUI. Two lists: the Registry pane (every package
//! of the project's copy of the registry index, with its versions and which one is
//! installed here) and the Project pane (the store's packages: made here, with the SKY_ID
//! the registry reserved, and how often My Builds built them; or installed).
//!
//! `u` syncs the index (a job), `i` resolves the selected package's newest version over
//! the index and shows what the install takes (dependencies first; the resolver's
//! explanation when nothing fits) before installing it as a job; `s` shows the selected
//! package's Tune report first and submits only when it found no errors; `R` lists the
//! registry's release snapshots and installs the exact versions of the one chosen, after
//! showing them (docs/PACKAGES.md). Lists and the
//! questions asked before acting are read by workers (`worker.rs`): drawing never reads the
//! store or the index.

mod view;
pub mod worker;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use self::worker::{Answer, Ask, Lists, Workers};
use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Level};
use crate::app::listnav::ListNav;
use crate::app::worker::Payload;
use crate::engine::jobs::{JobEvent, JobId};
use crate::engine::packages::tune::{self, Finding};
use crate::engine::project::Project;
use crate::engine::registry::client::ReleaseInfo;
use crate::engine::registry::packages::{
    self as regpkg, InstallOutcome, Resolution, Step, Submitted,
};
use crate::engine::registry::releases::Source;
use crate::engine::util::units::rfc3339;
use crate::store::Store;
use crate::store::scripts as rows;

/// Which list has the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Focus {
    Registry,
    Project,
}

/// A popup of the screen.
#[derive(Debug)]
enum Popup {
    /// Waiting for the worker's answer.
    Asking(String),
    /// An install's resolution: `y` installs.
    Install { want: String, steps: Vec<Step> },
    /// A package's Tune report: `y` submits unless it holds errors.
    Submit {
        package: i64,
        label: String,
        findings: Vec<Finding>,
    },
    /// Text to read (the resolver's explanation, an error): any of esc/enter/q closes it.
    Report { title: String, text: String },
    /// The registry's release snapshots (the project's copies when `offline`): enter
    /// asks what installing the selected one takes.
    Releases {
        list: Vec<ReleaseInfo>,
        offline: bool,
        selected: usize,
    },
}

pub struct PackagesScreen {
    lists: Lists,
    loaded: bool,
    load_error: Option<String>,
    focus: Focus,
    registry_nav: ListNav,
    project_nav: ListNav,
    heights: (usize, usize),
    popup: Option<Popup>,
    /// The running sync, install or submit (one at a time).
    job: Option<(JobId, &'static str)>,
    workers: Workers,
}

impl PackagesScreen {
    pub fn new(project: &Project, tx: crate::app::events::EventTx) -> Self {
        let mut s = PackagesScreen {
            lists: Lists::default(),
            loaded: false,
            load_error: None,
            focus: Focus::Registry,
            registry_nav: ListNav::default(),
            project_nav: ListNav::default(),
            heights: (5, 5),
            popup: None,
            job: None,
            workers: worker::start(project, tx),
        };
        s.workers.lists.request(());
        s
    }

    fn selected_available(&self) -> Option<&crate::engine::registry::local::PackageVersions> {
        self.lists.available.get(self.registry_nav.selected)
    }

    fn selected_local(&self) -> Option<&worker::LocalPackage> {
        self.lists.local.get(self.project_nav.selected)
    }

    /// The version installed here of an available package (the newest, when several: the
    /// store lists its packages newest first).
    fn installed_version(&self, name: &str) -> Option<&str> {
        self.lists
            .local
            .iter()
            .filter(|p| p.name == name)
            .map(|p| p.version.as_str())
            .next()
    }

    fn busy(&self, ctx: &mut Ctx) -> bool {
        match self.job {
            Some((id, what)) => {
                ctx.status(
                    Level::Warn,
                    format!("{what} is running (job #{id}); one at a time"),
                );
                true
            }
            None => false,
        }
    }

    fn sync(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        let root = ctx.project.root.clone();
        let id = ctx.jobs.spawn_blocking("registry sync", move |p| {
            let store = open_store(&root)?;
            p.set(0, None, "syncing the registry index");
            let r = crate::engine::registry::update(&root, &store, false, false)?;
            Ok(format!(
                "index synced from {}: {} change(s), {} byte(s); {} package(s) known",
                r.url, r.changed, r.index_bytes, r.known
            ))
        });
        self.job = Some((id, "a sync"));
        ctx.status(
            Level::Info,
            format!("syncing the registry index (job #{id})"),
        );
    }

    /// Ask what installing the selected package's newest version takes.
    fn ask_install(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        let Some(p) = self.selected_available() else {
            ctx.status(
                Level::Info,
                "no package to install: sync the index first (u)",
            );
            return;
        };
        let Some(v) = p.versions.iter().rev().find(|v| !v.yanked) else {
            ctx.status(
                Level::Warn,
                format!("every version of {} is yanked", p.name),
            );
            return;
        };
        let want = format!("{}@={}", p.name, v.version);
        self.popup = Some(Popup::Asking(format!(
            "resolving {} {}…",
            p.name, v.version
        )));
        self.workers.ask.request(Ask::Resolve(want));
    }

    /// Ask for the Tune report of the selected package of the project.
    fn ask_submit(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        let Some(p) = self.selected_local() else {
            ctx.status(Level::Info, "no package of this project to submit");
            return;
        };
        let (id, what) = (p.id, format!("Tune: checking {} {}…", p.name, p.version));
        self.popup = Some(Popup::Asking(what));
        self.workers.ask.request(Ask::Tune(id));
    }

    /// Ask for the registry's release snapshots.
    fn ask_releases(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        if self.lists.registry.is_none() {
            ctx.status(Level::Info, "no registry: `devsky registry login` first");
            return;
        }
        self.popup = Some(Popup::Asking("reading the registry's releases…".into()));
        self.workers.ask.request(Ask::Releases);
    }

    fn install(&mut self, want: String, steps: Vec<Step>, ctx: &mut Ctx) {
        let project = ctx.project.clone();
        let id = ctx.jobs.spawn_blocking("install", move |p| {
            let mut store = open_store(&project.root)?;
            p.set(0, None, &format!("installing {want}"));
            match regpkg::apply_install(&project, &mut store, &steps)? {
                InstallOutcome::Installed { installed } => {
                    let mut done = vec![];
                    for i in &installed {
                        let how = if i.already {
                            "already here"
                        } else {
                            "installed"
                        };
                        p.log(format!(
                            "{how} {} {} (package {})",
                            i.name, i.version, i.package
                        ));
                        done.push(format!("{} {}", i.name, i.version));
                    }
                    Ok(format!("installed {}", done.join(", ")))
                }
                InstallOutcome::NoSolution { explanation } => {
                    anyhow::bail!("no set of versions fits:\n{explanation}")
                }
                InstallOutcome::Conflicts {
                    package, conflicts, ..
                } => anyhow::bail!(
                    "{package}: {} conflict(s), not installed:\n{}",
                    conflicts.len(),
                    conflicts.join("\n")
                ),
            }
        });
        self.job = Some((id, "an install"));
        ctx.status(Level::Info, format!("installing (job #{id})"));
    }

    fn submit(&mut self, package: i64, label: String, ctx: &mut Ctx) {
        let project = ctx.project.clone();
        let id = ctx.jobs.spawn_blocking("submit", move |p| {
            let store = open_store(&project.root)?;
            let pkg = rows::package(store.conn(), package)?
                .ok_or_else(|| anyhow::anyhow!("package #{package} is gone"))?;
            p.set(0, None, &format!("submitting {label}"));
            match regpkg::submit(&project, &store, &pkg, false)? {
                Submitted::Published { published, .. } => Ok(format!(
                    "submitted {} {}: SKY_ID {}, {} bytes",
                    published.name, published.version, published.sky_id, published.size
                )),
                Submitted::Tune { findings } => anyhow::bail!(
                    "{label}: Tune found errors; nothing was sent:\n{}",
                    findings_text(&findings)
                ),
                Submitted::Claimed { theirs } => {
                    let who: Vec<String> = theirs
                        .iter()
                        .map(|c| {
                            format!("{} by {} until {}", c.record, c.owner, rfc3339(c.expires))
                        })
                        .collect();
                    anyhow::bail!(
                        "{label}: {} record(s) are taken into work by someone else; nothing \
                         was sent:\n{}",
                        theirs.len(),
                        who.join("\n")
                    )
                }
            }
        });
        self.job = Some((id, "a submit"));
        ctx.status(Level::Info, format!("submitting (job #{id})"));
    }

    fn on_answer(&mut self, a: Answer) {
        if !matches!(self.popup, Some(Popup::Asking(_))) {
            return; // closed meanwhile
        }
        self.popup = Some(match a {
            Answer::Resolved { want, result } => match result {
                Ok(Resolution::Plan(steps)) => Popup::Install { want, steps },
                Ok(Resolution::NoSolution { explanation }) => Popup::Report {
                    title: format!(" Cannot install {want} "),
                    text: format!("No set of package versions satisfies it:\n{explanation}"),
                },
                Err(e) => Popup::Report {
                    title: " Install ".into(),
                    text: e,
                },
            },
            Answer::Tuned {
                package,
                label,
                result,
            } => match result {
                Ok(findings) => Popup::Submit {
                    package,
                    label,
                    findings,
                },
                Err(e) => Popup::Report {
                    title: " Tune ".into(),
                    text: e,
                },
            },
            Answer::Releases(Ok((list, offline))) => Popup::Releases {
                list,
                offline,
                selected: 0,
            },
            Answer::Releases(Err(e)) => Popup::Report {
                title: " Releases ".into(),
                text: e,
            },
            Answer::Release {
                name,
                result: Ok((source, steps)),
            } => Popup::Install {
                want: format!(
                    "release {name}{}",
                    match source {
                        Source::Fetched => "",
                        Source::Cache => " (from the cache)",
                        Source::Offline => " (from the cache: the registry cannot be reached)",
                    }
                ),
                steps,
            },
            Answer::Release {
                name,
                result: Err(e),
            } => Popup::Report {
                title: format!(" Release {name} "),
                text: e,
            },
        });
    }

    fn popup_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let yes = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'));
        let no = matches!(
            key.code,
            KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Char('q')
        );
        match self.popup.take() {
            Some(Popup::Install { want, steps }) if yes => self.install(want, steps, ctx),
            Some(Popup::Releases {
                list,
                offline,
                mut selected,
            }) => match key.code {
                KeyCode::Enter => match list.get(selected) {
                    Some(r) => {
                        self.popup = Some(Popup::Asking(format!("reading release {}…", r.name)));
                        self.workers.ask.request(Ask::Release(r.name.clone()));
                    }
                    None => self.popup = None,
                },
                _ if no => {}
                code => {
                    match code {
                        KeyCode::Down | KeyCode::Char('j') => {
                            selected = (selected + 1).min(list.len().saturating_sub(1))
                        }
                        KeyCode::Up | KeyCode::Char('k') => selected = selected.saturating_sub(1),
                        _ => {}
                    }
                    self.popup = Some(Popup::Releases {
                        list,
                        offline,
                        selected,
                    });
                }
            },
            Some(Popup::Submit {
                package,
                label,
                findings,
            }) if yes && !has_errors(&findings) => self.submit(package, label, ctx),
            Some(Popup::Asking(_)) if no => {
                self.workers.ask.forget();
                ctx.status(Level::Info, "cancelled");
            }
            Some(Popup::Report { .. }) if no || key.code == KeyCode::Enter => {}
            Some(Popup::Install { .. } | Popup::Submit { .. }) if no => {
                ctx.status(Level::Info, "nothing done");
            }
            other => self.popup = other,
        }
    }

    fn nav(&mut self, id: Cmd) -> bool {
        let (nav, len, page) = match self.focus {
            Focus::Registry => (
                &mut self.registry_nav,
                self.lists.available.len(),
                self.heights.0,
            ),
            Focus::Project => (
                &mut self.project_nav,
                self.lists.local.len(),
                self.heights.1,
            ),
        };
        nav.apply(id, len, page).is_some()
    }
}

fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.level == tune::Level::Error)
}

/// Findings as lines: `error [code] message`.
fn findings_text(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            let level = match f.level {
                tune::Level::Error => "error",
                tune::Level::Warning => "warning",
            };
            format!("{level} [{}] {}", f.code, f.message)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn open_store(root: &std::path::Path) -> anyhow::Result<Store> {
    let db = root
        .join(crate::store::STATE_DIR)
        .join(crate::store::DB_FILE);
    Ok(Store::open(&db, false)?)
}

impl Screen for PackagesScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Packages
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        view::draw(self, frame, area, ctx);
    }

    fn command(&mut self, id: Cmd, ctx: &mut Ctx) -> bool {
        match id {
            Cmd::PackagesSync => self.sync(ctx),
            Cmd::PackagesInstall => self.ask_install(ctx),
            Cmd::PackagesSubmit => self.ask_submit(ctx),
            Cmd::PackagesRelease => self.ask_releases(ctx),
            Cmd::PackagesReload => {
                self.workers.lists.request(());
            }
            Cmd::NavFocus => {
                self.focus = match self.focus {
                    Focus::Registry => Focus::Project,
                    Focus::Project => Focus::Registry,
                }
            }
            other if other.is_nav() => return self.nav(other),
            _ => return false,
        }
        true
    }

    fn captures_input(&self) -> bool {
        self.popup.is_some()
    }

    fn input_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        if self.popup.is_none() {
            return false;
        }
        self.popup_key(key, ctx);
        true
    }

    fn on_reply(&mut self, reply: Payload, _ctx: &mut Ctx) -> bool {
        let reply = match self.workers.lists.accept(reply) {
            Ok(Some(r)) => {
                self.loaded = true;
                match r {
                    Ok(lists) => {
                        self.lists = lists;
                        self.load_error = None;
                    }
                    Err(e) => self.load_error = Some(e),
                }
                self.registry_nav.clamp(self.lists.available.len());
                self.project_nav.clamp(self.lists.local.len());
                return true;
            }
            Ok(None) => return false,
            Err(other) => other,
        };
        match self.workers.ask.accept(reply) {
            Ok(Some(a)) => {
                self.on_answer(a);
                true
            }
            _ => false,
        }
    }

    fn on_job(&mut self, ev: &JobEvent, _ctx: &mut Ctx) -> bool {
        match ev {
            JobEvent::Finished { id, .. } if self.job.is_some_and(|(j, _)| j == *id) => {
                // The shell reports the outcome in the status line (and Jobs keeps its log).
                self.job = None;
                self.workers.lists.request(());
                true
            }
            _ => false,
        }
    }

    fn on_show(&mut self, _ctx: &mut Ctx) {
        // Packages may have been made, installed or synced from the CLI meanwhile.
        self.workers.lists.request(());
    }
}
