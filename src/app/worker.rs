//! Background work for screens, one mechanism for all of them:
//!
//! - [`ReplyTx`] sends a value to one screen: the shell hands it to that screen's
//!   [`Screen::on_reply`](super::screen::Screen::on_reply) and to no other.
//! - [`Tickets`] hand out generation numbers: every request takes a new one, and only the
//!   newest is current, so "the latest request wins" and a late answer to an older
//!   request is dropped instead of shown.
//! - [`Worker`] is a thread that runs one kind of request with tickets: it skips to the
//!   newest request waiting, and [`Worker::accept`] keeps only the answer to the current
//!   ticket. Screens whose worker must run every request in order (the Query screen's
//!   connection) or whose work runs as jobs (Snapshots, Deploy) use [`Tickets`] and
//!   [`ReplyTx`] directly.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

use super::events::{AppEvent, EventTx};
use super::screen::ScreenId;

/// A reply's value, typed by the screen that asked for it.
pub type Payload = Box<dyn Any + Send>;

/// Sends replies to one screen.
#[derive(Debug, Clone)]
pub struct ReplyTx {
    to: ScreenId,
    tx: EventTx,
}

impl ReplyTx {
    pub fn new(to: ScreenId, tx: EventTx) -> ReplyTx {
        ReplyTx { to, tx }
    }

    /// Send `value` to the screen; false when the shell is gone.
    pub fn send<T: Any + Send>(&self, value: T) -> bool {
        self.tx.send(AppEvent::reply(self.to, value)).is_ok()
    }
}

/// Generation tickets: [`Tickets::issue`] makes the previous tickets stale.
#[derive(Debug, Default, Clone)]
pub struct Tickets {
    current: u64,
}

impl Tickets {
    /// A new ticket; every older one is stale from now on.
    pub fn issue(&mut self) -> u64 {
        self.current += 1;
        self.current
    }

    /// The newest ticket issued (0 before the first).
    pub fn current(&self) -> u64 {
        self.current
    }

    pub fn is_current(&self, ticket: u64) -> bool {
        ticket == self.current
    }
}

/// What a [`Worker`] sends back: which worker, for which ticket, the value.
struct Answer<R> {
    worker: u64,
    ticket: u64,
    value: R,
}

static NEXT_WORKER: AtomicU64 = AtomicU64::new(1);

/// A "latest request wins" worker thread: requests of type `Q`, answers of type `R`.
/// The thread stops when the handle is dropped.
pub struct Worker<Q, R> {
    id: u64,
    tx: Sender<(u64, Q)>,
    tickets: Tickets,
    _answers: PhantomData<fn() -> R>,
}

impl<Q: Send + 'static, R: Send + 'static> Worker<Q, R> {
    /// Start the thread `name`. `init` runs first on the thread (open a store, load syntax
    /// definitions); `work` answers one request with that state. Answers go to `replies`.
    pub fn start<S>(
        name: &str,
        replies: ReplyTx,
        init: impl FnOnce() -> S + Send + 'static,
        mut work: impl FnMut(&mut S, Q) -> R + Send + 'static,
    ) -> Worker<Q, R> {
        let id = NEXT_WORKER.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = channel::<(u64, Q)>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut state = init();
                while let Some((ticket, req)) = latest(&rx) {
                    let value = work(&mut state, req);
                    if !replies.send(Answer {
                        worker: id,
                        ticket,
                        value,
                    }) {
                        break;
                    }
                }
            })
            .expect("spawn a worker thread");
        Worker {
            id,
            tx,
            tickets: Tickets::default(),
            _answers: PhantomData,
        }
    }

    /// Ask for `req`; the answers to every earlier request become stale. Returns the ticket.
    pub fn request(&mut self, req: Q) -> u64 {
        let ticket = self.tickets.issue();
        let _ = self.tx.send((ticket, req));
        ticket
    }

    /// Make the answer to what was asked stale without asking anything new.
    pub fn forget(&mut self) {
        self.tickets.issue();
    }

    /// Sort a reply: `Ok(Some(value))` is this worker's answer to its current request,
    /// `Ok(None)` an answer of this worker that is stale (dropped), `Err(payload)` someone
    /// else's reply, given back untouched.
    pub fn accept(&self, payload: Payload) -> Result<Option<R>, Payload> {
        match payload.downcast::<Answer<R>>() {
            Ok(a) if a.worker == self.id => {
                Ok(self.tickets.is_current(a.ticket).then_some(a.value))
            }
            Ok(a) => Err(a),
            Err(other) => Err(other),
        }
    }
}

/// Take the newest request waiting, dropping older ones.
fn latest<T>(rx: &Receiver<T>) -> Option<T> {
    let mut req = rx.recv().ok()?;
    while let Ok(newer) = rx.try_recv() {
        req = newer;
    }
    Some(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn next_payload(rx: &Receiver<AppEvent>) -> (ScreenId, Payload) {
        match rx.recv_timeout(Duration::from_secs(10)).expect("a reply") {
            AppEvent::Reply(r) => (r.to, r.payload),
            other => panic!("not a reply: {other:?}"),
        }
    }

    #[test]
    fn tickets_make_older_ones_stale() {
        let mut t = Tickets::default();
        let a = t.issue();
        assert!(t.is_current(a));
        let b = t.issue();
        assert!(!t.is_current(a) && t.is_current(b));
        assert_eq!(t.current(), b);
    }

    #[test]
    fn a_stale_reply_is_dropped_and_the_current_one_kept() {
        let (tx, rx) = channel();
        let mut w: Worker<u32, u32> =
            Worker::start("t", ReplyTx::new(ScreenId::Query, tx), || (), |_, n| n * 10);
        w.request(1);
        let (to, first) = next_payload(&rx);
        assert_eq!(to, ScreenId::Query, "addressed to the screen that asked");
        w.request(2);
        let (_, second) = next_payload(&rx);
        // The answer to request 1 arrives after request 2 was made: stale.
        assert!(matches!(w.accept(first), Ok(None)));
        assert!(matches!(w.accept(second), Ok(Some(20))));
        // Forgetting makes the current answer stale too.
        w.request(3);
        let (_, third) = next_payload(&rx);
        w.forget();
        assert!(matches!(w.accept(third), Ok(None)));
    }

    #[test]
    fn replies_of_another_worker_or_type_are_given_back() {
        let (tx, rx) = channel();
        let mut a: Worker<u32, u32> = Worker::start(
            "a",
            ReplyTx::new(ScreenId::Codebase, tx.clone()),
            || (),
            |_, n| n,
        );
        let b: Worker<u32, u32> =
            Worker::start("b", ReplyTx::new(ScreenId::Codebase, tx), || (), |_, n| n);
        a.request(7);
        let (_, p) = next_payload(&rx);
        let p = b.accept(p).expect_err("not b's answer");
        assert!(matches!(a.accept(p), Ok(Some(7))));
        let other: Payload = Box::new("some other reply");
        assert!(a.accept(other).is_err());
    }

    #[test]
    fn the_worker_skips_to_the_newest_request_waiting() {
        let (tx, rx) = channel();
        let (gate_tx, gate_rx) = channel::<()>();
        let mut w: Worker<u32, u32> = Worker::start(
            "skip",
            ReplyTx::new(ScreenId::Codebase, tx),
            move || gate_rx,
            |gate, n| {
                gate.recv().ok();
                n
            },
        );
        w.request(1); // taken at once; blocks on the gate
        std::thread::sleep(Duration::from_millis(50));
        w.request(2);
        w.request(3);
        gate_tx.send(()).unwrap();
        gate_tx.send(()).unwrap();
        let (_, p1) = next_payload(&rx);
        let (_, p3) = next_payload(&rx);
        assert!(matches!(w.accept(p1), Ok(None)));
        assert!(matches!(w.accept(p3), Ok(Some(3))), "request 2 was skipped");
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    }
}
