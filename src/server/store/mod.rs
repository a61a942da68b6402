//! Storage: a small interface ([`Store`]) that handlers and the writer use, and its
//! implementations (SQLite, embedded; PostgreSQL, shared by several nodes). Nothing outside this
//! module knows SQL.
//!
//! Writes that must be ordered (messages, delivery and read watermarks) go through
//! [`Store::apply_batch`], called only by the single writer task, which commits many of them in
//! one transaction (group commit). Reads may run concurrently from any task.

mod paced_writeback;
mod postgres;
mod postgres_accounts;
mod postgres_bulk;
mod postgres_support;
mod postgres_writes;
mod rows;
mod sqlite;
mod sqlite_accounts;
mod sqlite_checkpoint_copy;
mod sqlite_checkpoints;
mod sqlite_dm_writes;
mod sqlite_entries;
mod sqlite_index;
mod sqlite_log;
mod sqlite_log_prepare;
mod sqlite_log_thread;
mod sqlite_reads;
mod sqlite_recovery;
mod sqlite_sent_filter;
mod sqlite_support;
mod sqlite_support_writes;
mod sqlite_sync;
mod sqlite_writes;
mod stamps;
pub mod support;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub(crate) use stamps::now_ms;
pub use stamps::{new_message_id, now_rfc3339};
pub use support::{
    SupportChange, SupportConversation, SupportMessage, SupportStatus, SupportStore,
};

use crate::protocol::{FromRole, Message, Role};
use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    Conflict,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub username: String,
    pub password_hash: String,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub username: String,
    pub role: Role,
    /// Unix milliseconds.
    pub expires_at_ms: i64,
    pub revoked: bool,
}

/// A message as stored: one row, seen from no side in particular.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredMessage {
    pub id: String,
    pub seq: u64,
    pub sender: String,
    pub recipient: String,
    pub body: String,
    pub client_msg_id: String,
    pub sent_at: String,
}

impl StoredMessage {
    /// The `message` frames for (the sender's sockets, the recipient's), serialized together.
    pub fn frames(&self) -> (String, String) {
        crate::protocol::server::DirectMessage {
            id: &self.id,
            from: &self.sender,
            to: &self.recipient,
            seq: self.seq,
            body: &self.body,
            sent_at: &self.sent_at,
            client_msg_id: &self.client_msg_id,
        }
        .frames()
    }

    /// The wire form, seen by `viewer` (which sets `peer`).
    pub fn to_wire(&self, viewer: &str) -> Message {
        let peer = if self.sender == viewer {
            &self.recipient
        } else {
            &self.sender
        };
        Message {
            id: self.id.clone(),
            peer: Some(peer.clone()),
            conversation_id: None,
            from: self.sender.clone(),
            to: self.recipient.clone(),
            seq: self.seq,
            body: self.body.clone(),
            sent_at: self.sent_at.clone(),
            client_msg_id: self.client_msg_id.clone(),
            from_role: None,
        }
    }
}

/// A conversation from one user's point of view.
#[derive(Debug, Clone)]
pub struct ConversationRow {
    pub peer: String,
    pub last_seq: u64,
    pub unread: u64,
    pub peer_delivered_seq: u64,
    pub peer_read_seq: u64,
    pub last_message: Option<StoredMessage>,
}

/// A write that the writer task commits in a batch.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Store a message; assigns the next seq of the pair's conversation. Idempotent on
    /// (sender, client_msg_id).
    Append(NewMessage),
    /// `reader` has received `peer`'s messages up to `up_to_seq`.
    MarkDelivered {
        reader: String,
        peer: String,
        up_to_seq: u64,
    },
    /// `reader` has read `peer`'s messages up to `up_to_seq` (implies delivered).
    MarkRead {
        reader: String,
        peer: String,
        up_to_seq: u64,
    },
    /// Store a support message; assigns the conversation's next seq. A customer message
    /// reopens a resolved conversation; an agent message claims an unassigned one and is
    /// refused in one another agent holds. Idempotent on (conversation, role, author,
    /// client_msg_id), checked before anything else.
    SupportAppend(NewSupportMessage),
    SupportChange {
        conversation_id: String,
        change: SupportChange,
    },
    /// One side of a support conversation has read up to `up_to_seq`.
    SupportRead {
        conversation_id: String,
        by: FromRole,
        up_to_seq: u64,
    },
}

impl WriteOp {
    /// A write of the support product (its fan-out may assign conversations).
    pub fn is_support(&self) -> bool {
        matches!(
            self,
            Self::SupportAppend(_) | Self::SupportChange { .. } | Self::SupportRead { .. }
        )
    }
}

/// What one [`WriteOp`] did.
#[derive(Debug, Clone)]
pub enum WriteOutcome {
    Appended {
        /// Shared: the writer fans it out while the store may still hold it (SQLite keeps it
        /// until it is indexed).
        message: Arc<StoredMessage>,
        /// The same sender already sent this `client_msg_id`; `message` is the original.
        duplicate: bool,
        /// The recipient's delivered watermark in this conversation after the write.
        recipient_delivered_seq: u64,
    },
    /// The watermark moved to this seq (`None`: it was already there or beyond).
    Marked { advanced_to: Option<u64> },
    /// Boxed, like `SupportChanged`'s conversation: a batch holds an outcome per write, and
    /// these inline made every outcome (a direct message's too) 512 bytes.
    SupportAppended {
        message: Box<SupportMessage>,
        duplicate: bool,
        /// The conversation after the write.
        conversation: Box<SupportConversation>,
        /// The write changed its status or assignee.
        status_changed: bool,
    },
    /// An agent wrote into a conversation another agent holds.
    SupportRefused { assignee: String },
    SupportChanged {
        /// `None`: no such conversation.
        conversation: Option<Box<SupportConversation>>,
        changed: bool,
    },
}

/// A direct message to store: what its sender wrote, stamped by the server with an id and a time.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sender: String,
    pub recipient: String,
    pub body: String,
    pub client_msg_id: String,
    pub sent_at: String,
    pub id: String,
}

impl NewMessage {
    /// Stamped now, with a new (time-ordered) id.
    pub fn new(sender: String, recipient: String, body: String, client_msg_id: String) -> Self {
        Self {
            sender,
            recipient,
            body,
            client_msg_id,
            sent_at: now_rfc3339(),
            id: new_message_id(),
        }
    }

    /// The message as stored at `seq`.
    pub(crate) fn stored(&self, seq: u64) -> StoredMessage {
        StoredMessage {
            id: self.id.clone(),
            seq,
            sender: self.sender.clone(),
            recipient: self.recipient.clone(),
            body: self.body.clone(),
            client_msg_id: self.client_msg_id.clone(),
            sent_at: self.sent_at.clone(),
        }
    }
}

/// A support message to store (see [`WriteOp::SupportAppend`]), stamped like [`NewMessage`].
#[derive(Debug, Clone)]
pub struct NewSupportMessage {
    pub conversation_id: String,
    pub from_role: FromRole,
    pub author: String,
    /// An agent may write into a conversation assigned to someone else (admins).
    pub take_over: bool,
    pub body: String,
    pub client_msg_id: String,
    pub sent_at: String,
    pub id: String,
}

impl NewSupportMessage {
    /// The message as stored at `seq`.
    pub(crate) fn stored(&self, seq: u64) -> SupportMessage {
        SupportMessage {
            id: self.id.clone(),
            conversation_id: self.conversation_id.clone(),
            seq,
            from_role: self.from_role,
            author: self.author.clone(),
            body: self.body.clone(),
            client_msg_id: self.client_msg_id.clone(),
            sent_at: self.sent_at.clone(),
        }
    }
}

impl WriteOutcome {
    /// A new direct message, stored at `seq`.
    pub(crate) fn appended(message: &NewMessage, seq: u64) -> Self {
        WriteOutcome::Appended {
            message: Arc::new(message.stored(seq)),
            duplicate: false,
            recipient_delivered_seq: 0,
        }
    }

    /// A new support message, stored at `seq`, and its conversation after it.
    pub(crate) fn support_appended(
        message: &NewSupportMessage,
        seq: u64,
        conversation: SupportConversation,
        status_changed: bool,
    ) -> Self {
        WriteOutcome::SupportAppended {
            message: Box::new(message.stored(seq)),
            duplicate: false,
            conversation: Box::new(conversation),
            status_changed,
        }
    }
}

/// Accounts and sessions.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_user(&self, username: &str, password_hash: &str, role: Role)
        -> StoreResult<()>;
    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_exists(&self, username: &str) -> StoreResult<bool>;

    async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        expires_at_ms: i64,
    ) -> StoreResult<()>;
    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>>;
    async fn revoke_session(&self, token_hash: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait Store: AccountStore + SupportStore + Send + Sync + 'static {
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Flushes and closes connections.
    async fn close(&self);

    /// The store's own figures for `/metrics`: (name, Prometheus type, value).
    fn samples(&self) -> Vec<(&'static str, &'static str, u64)> {
        Vec::new()
    }

    /// Applies the ops in order in one transaction; one outcome per op. If the transaction
    /// fails, nothing of it is applied. Shared, not borrowed: a store that writes on a thread
    /// of its own takes the batch along without copying every op.
    async fn apply_batch(&self, ops: Arc<[WriteOp]>) -> StoreResult<Vec<WriteOutcome>>;

    /// Like [`apply_batch`](Self::apply_batch), but may answer before the writes are durable:
    /// nobody may hear of them until the [`Durable`] resolves (and if it fails, they count as
    /// never written). The next batch may be started meanwhile; it is applied after this one.
    /// The writer uses this to decide a batch while the previous one is being made durable.
    async fn start_batch(&self, ops: Arc<[WriteOp]>) -> StoreResult<(Vec<WriteOutcome>, Durable)> {
        Ok((self.apply_batch(ops).await?, Durable::now()))
    }

    /// The user's conversations, most recently active first.
    async fn conversations(&self, user: &str) -> StoreResult<Vec<ConversationRow>>;
    /// Users who share a conversation with `user`.
    async fn peers_of(&self, user: &str) -> StoreResult<Vec<String>>;
    /// Messages to `user` not yet delivered, in seq order per conversation, at most `limit`.
    async fn pending_for(&self, user: &str, limit: u32) -> StoreResult<Vec<StoredMessage>>;
    /// Messages of the conversation of `user` and `peer` with seq > `after_seq`, oldest first.
    async fn messages_after(
        &self,
        user: &str,
        peer: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<StoredMessage>>;
    /// The page of at most `limit` messages with seq < `before_seq` (newest page if `None`),
    /// oldest first, and whether older messages exist.
    async fn messages_before(
        &self,
        user: &str,
        peer: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<StoredMessage>, bool)>;
}

/// Resolves once the writes of a batch from [`Store::start_batch`] are durable.
pub struct Durable(Option<futures::future::BoxFuture<'static, StoreResult<()>>>);

impl Durable {
    /// Already durable.
    pub fn now() -> Self {
        Self(None)
    }

    pub fn later(
        durable: impl std::future::Future<Output = StoreResult<()>> + Send + 'static,
    ) -> Self {
        Self(Some(Box::pin(durable)))
    }

    pub async fn wait(self) -> StoreResult<()> {
        match self.0 {
            None => Ok(()),
            Some(durable) => durable.await,
        }
    }
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Durable(later)"
        } else {
            "Durable(now)"
        })
    }
}

/// Opens the store a database URL names.
pub async fn connect(database_url: &str) -> StoreResult<Arc<dyn Store>> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(database_url).await?))
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(database_url).await?))
    } else {
        Err(StoreError::Other(format!(
            "unsupported DATABASE_URL scheme in {:?}: use sqlite:// or postgres://",
            database_url.split(':').next().unwrap_or_default()
        )))
    }
}

/// The two members of a conversation in a fixed order, so a pair has one key.
pub fn ordered_pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// A seq as an SQL integer (seqs never reach `i64::MAX`; larger inputs are clamped).
pub(crate) fn seq_param(seq: u64) -> i64 {
    seq.min(i64::MAX as u64) as i64
}

/// Rows read newest first with one extra row: the page, oldest first, and whether older rows
/// exist.
pub(crate) fn page_from_newest_first<T>(mut rows: Vec<T>, limit: u32) -> (Vec<T>, bool) {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    rows.reverse();
    (rows, has_more)
}
