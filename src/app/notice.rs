//! Notices: the red (error) and blue (info) lines shown above the composer, as in the seed
//! tutorial ("message saved, will be delivered when bob comes online" was blue, errors red).

/// How long an info notice stays up, in milliseconds. Errors stay until dismissed.
pub const INFO_NOTICE_MS: f64 = 10_000.0;
/// How many notices are kept; older ones are dropped.
const MAX_NOTICES: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// Red: something failed.
    Error,
    /// Blue: something worth knowing, e.g. "saved for later".
    Info,
}

/// A red or blue line above the composer.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub id: u64,
    pub kind: NoticeKind,
    pub text: String,
    /// The conversation it belongs to; `None` shows everywhere.
    pub peer: Option<String>,
    /// When it disappears by itself (ms since the epoch); errors stay until dismissed.
    pub expires_at: Option<f64>,
}

/// The notices currently showing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoticeBoard {
    notices: Vec<Notice>,
    next_id: u64,
}

impl NoticeBoard {
    /// Adds a notice, unless the same one is already showing (then it only lives longer).
    pub fn push(&mut self, kind: NoticeKind, text: String, peer: Option<String>, now: f64) {
        let expires_at = (kind == NoticeKind::Info).then_some(now + INFO_NOTICE_MS);
        if let Some(n) = self
            .notices
            .iter_mut()
            .find(|n| n.kind == kind && n.text == text && n.peer == peer)
        {
            n.expires_at = expires_at;
            return;
        }
        self.next_id += 1;
        self.notices.push(Notice {
            id: self.next_id,
            kind,
            text,
            peer,
            expires_at,
        });
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }

    pub fn dismiss(&mut self, id: u64) {
        self.notices.retain(|n| n.id != id);
    }

    /// Drops expired notices; true if any went.
    pub fn prune(&mut self, now: f64) -> bool {
        let before = self.notices.len();
        self.notices
            .retain(|n| n.expires_at.is_none_or(|at| at > now));
        before != self.notices.len()
    }

    /// The notices to show in the conversation with `peer` (global ones included), oldest first.
    pub fn for_peer(&self, peer: Option<&str>) -> Vec<Notice> {
        self.notices
            .iter()
            .filter(|n| n.peer.is_none() || n.peer.as_deref() == peer)
            .cloned()
            .collect()
    }

    /// The next time something expires, if anything will.
    pub fn next_expiry(&self) -> Option<f64> {
        self.notices
            .iter()
            .filter_map(|n| n.expires_at)
            .min_by(|a, b| a.total_cmp(b))
    }
}
