//! Connections kept for a session ([`Sessions`]): the TUI keeps, per server, the one
//! connection of an SSH target (the ssh child with `devsky agent --stdio` behind it) and
//! the SFTP connections of an SFTP target (ssh children with the sftp subsystem) for as
//! long as it runs, so that a second plan or push does not pay ssh's start-up and
//! authentication again. A kept connection whose ssh exited (the server restarted, the
//! network dropped) is replaced by a new one when it is next asked for.
//!
//! Safer than OpenSSH's ControlMaster sockets: nothing is left behind on disk, and a dead
//! connection is noticed (its child exited) instead of a stale master being reused.
//! Other transports are connected afresh each time (HTTP pools its own connections; an
//! FTP server drops an idle control connection without telling).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{Remote, ServerProfile, Transport, connect};

/// A connection kept for one server.
struct Kept {
    /// The profile it was made for, as JSON: a profile changed since gets a new one.
    profile: String,
    transport: Arc<dyn Transport>,
}

/// The connections of one session, per server name.
#[derive(Default)]
pub struct Sessions {
    kept: Mutex<HashMap<String, Kept>>,
}

/// A [`Remote`] from [`Sessions::connect`], and whether its connection was kept from
/// an earlier request (false: opened now).
pub struct Connected {
    pub remote: Remote,
    pub reused: bool,
}

/// Whether a profile's transport is one a session keeps.
pub fn kept_transport(p: &ServerProfile) -> bool {
    matches!(p.transport.as_str(), "ssh" | "sftp")
}

impl Sessions {
    /// The [`Remote`] of `p`: over the kept connection if there is one still alive,
    /// else over a new one (kept for the next time where the transport is kept).
    pub fn connect(&self, project_root: &Path, p: &ServerProfile) -> anyhow::Result<Connected> {
        if !kept_transport(p) {
            return Ok(Connected {
                remote: connect(project_root, p)?,
                reused: false,
            });
        }
        let profile = serde_json::to_string(p)?;
        // Held while connecting: two jobs asking at once make one connection, not two.
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = kept.get(&p.name)
            && k.profile == profile
            && k.transport.alive()
        {
            return Ok(Connected {
                remote: Remote::shared(k.transport.clone()),
                reused: true,
            });
        }
        // Gone or changed: the old one ends when its last user lets it go.
        kept.remove(&p.name);
        let remote = connect(project_root, p)?;
        kept.insert(
            p.name.clone(),
            Kept {
                profile,
                transport: remote.transport(),
            },
        );
        Ok(Connected {
            remote,
            reused: false,
        })
    }
}
