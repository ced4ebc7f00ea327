//! The shell's routing: a reply reaches the screen it is addressed to and no other; job
//! reports reach every screen.

use std::sync::{Arc, Mutex};

use ratatui::Frame;
use ratatui::layout::Rect;

use super::App;
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx};
use crate::app::events::AppEvent;
use crate::app::keymap::Keymap;
use crate::app::screen::{Screen, ScreenId};
use crate::app::theme::Theme;
use crate::app::worker::{Payload, ReplyTx, Worker};
use crate::engine::jobs::{JobEvent, Jobs};
use crate::engine::project::Project;

type Seen = Arc<Mutex<Vec<(ScreenId, String)>>>;

/// A screen that writes down what reaches it.
struct Probe {
    id: ScreenId,
    seen: Seen,
}

impl Screen for Probe {
    fn id(&self) -> ScreenId {
        self.id
    }
    fn draw(&mut self, _frame: &mut Frame, _area: Rect, _ctx: &DrawCtx) {}
    fn command(&mut self, _cmd: Cmd, _ctx: &mut Ctx) -> bool {
        false
    }
    fn on_reply(&mut self, reply: Payload, _ctx: &mut Ctx) -> bool {
        let text = match reply.downcast::<String>() {
            Ok(s) => *s,
            Err(_) => "?".into(),
        };
        self.seen.lock().unwrap().push((self.id, text));
        true
    }
    fn on_job(&mut self, _ev: &JobEvent, _ctx: &mut Ctx) -> bool {
        self.seen.lock().unwrap().push((self.id, "job".into()));
        true
    }
}

fn probes() -> (tempfile::TempDir, tokio::runtime::Runtime, App, Seen) {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::locate(dir.path()).unwrap();
    project.open_store(true).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let (tx, _rx) = std::sync::mpsc::channel();
    let jobs = Jobs::new(runtime.handle().clone(), |_| {});
    let seen: Seen = Arc::default();
    let screens: Vec<Box<dyn Screen>> = ScreenId::ALL
        .into_iter()
        .map(|id| -> Box<dyn Screen> {
            Box::new(Probe {
                id,
                seen: seen.clone(),
            })
        })
        .collect();
    let theme = Theme::load(Some("mono"), None).unwrap();
    let app = App::with_screens(project, Keymap::defaults(), theme, jobs, tx, screens);
    (dir, runtime, app, seen)
}

#[test]
fn a_reply_reaches_only_the_screen_it_is_addressed_to() {
    let (_dir, _rt, mut app, seen) = probes();
    assert!(app.handle(AppEvent::reply(ScreenId::Query, "rows".to_string())));
    assert!(app.handle(AppEvent::reply(ScreenId::Deploy, "plan".to_string())));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (ScreenId::Query, "rows".to_string()),
            (ScreenId::Deploy, "plan".to_string())
        ]
    );
}

#[test]
fn a_workers_answer_reaches_only_the_screen_that_started_it() {
    let (_dir, _rt, mut app, seen) = probes();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut w: Worker<u32, u32> = Worker::start(
        "probe",
        ReplyTx::new(ScreenId::Compare, tx),
        || (),
        |_, n| n + 1,
    );
    w.request(41);
    let ev = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    app.handle(ev);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, ScreenId::Compare);
}

#[test]
fn job_reports_reach_every_screen() {
    let (_dir, _rt, mut app, seen) = probes();
    app.handle(AppEvent::Job(JobEvent::Started {
        id: 1,
        name: "import".into(),
    }));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), ScreenId::ALL.len(), "{seen:?}");
}
