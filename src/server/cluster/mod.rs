//! Several Confab nodes behind one address: PostgreSQL is shared and is the source of truth;
//! Redis pub/sub (`REDIS_URL`) carries what one node's sockets must hear from another's —
//! frames and presence. Without `REDIS_URL` none of this runs.
//!
//! # Layout
//! - [`event`]: what nodes publish ([`event::Envelope`], [`event::Event`]).
//! - [`bus`]: the Redis connections, each with its own reconnecting task.
//! - [`presence`]: what the other nodes hold, with a time to live per node.
//! - [`node`]: applies other nodes' events here, sends the heartbeat, lets lapsed nodes go.
//!
//! The bus is best-effort. When events may have been lost (Redis restarted, a publish failed),
//! every socket receives `resync` and catches up from the store; the store's per-conversation
//! seqs make that exact (no loss, no duplicate, same order).

pub mod bus;
pub mod event;
pub mod node;
pub mod presence;

use crate::server::config::Settings;
use bus::Bus;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A configured but not yet running bus: the hub needs the handle before the tasks can start.
pub struct Pending {
    pub bus: Arc<Bus>,
    pub client: redis::Client,
    pub outbox: mpsc::Receiver<Vec<u8>>,
}

/// Reads the bus settings; `None` without `REDIS_URL`. A malformed URL is an error at start-up,
/// an unreachable server is not (the node connects when Redis comes).
pub fn configure(settings: &Settings) -> anyhow::Result<Option<Pending>> {
    let Some(url) = settings.redis_url.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let client = redis::Client::open(url)
        .map_err(|e| anyhow::anyhow!("REDIS_URL is not a usable Redis URL: {e}"))?;
    let node = settings
        .node_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    let ttl = Duration::from_millis(settings.node_ttl_ms.max(300));
    let (bus, outbox) = Bus::new(node, settings.redis_channel.clone(), ttl);
    Ok(Some(Pending {
        bus,
        client,
        outbox,
    }))
}
