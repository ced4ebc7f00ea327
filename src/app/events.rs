//! The internal event queue: everything the event loop reacts to arrives as an [`AppEvent`]
//! on one channel (terminal input, job reports, replies of screens' workers).

use crossterm::event::Event;

use super::screen::ScreenId;
use super::worker::Payload;
use crate::engine::jobs::JobEvent;

/// One thing that happened.
#[derive(Debug)]
pub enum AppEvent {
    /// A key, a resize, a paste from the terminal.
    Term(Event),
    /// A background job reported (every screen hears it).
    Job(JobEvent),
    /// An answer for one screen only (its worker's result); see [`super::worker`].
    Reply(Reply),
    /// The terminal input reader stopped (the terminal went away).
    InputClosed,
}

/// A value addressed to one screen. The framework does not know its type: the screen that
/// asked for it downcasts it.
pub struct Reply {
    pub to: ScreenId,
    pub payload: Payload,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reply(to {:?})", self.to)
    }
}

impl AppEvent {
    /// A reply carrying `value` to the screen `to`.
    pub fn reply<T: std::any::Any + Send>(to: ScreenId, value: T) -> AppEvent {
        AppEvent::Reply(Reply {
            to,
            payload: Box::new(value),
        })
    }
}

/// Where events are sent.
pub type EventTx = std::sync::mpsc::Sender<AppEvent>;
