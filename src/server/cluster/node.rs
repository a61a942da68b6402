//! This node's side of the cluster: applies other nodes' events to local sockets, publishes the
//! heartbeat (a presence snapshot) and lets nodes that stopped talking lapse.
//!
//! Presence frames are never sent over the bus: each node tells its own sockets when a user's
//! cluster-wide presence changes as this node sees it, so a user with tabs on two nodes comes
//! online once and goes offline once.

use super::bus::{Bus, Incoming};
use super::event::{Envelope, Event, Mark};
use super::Pending;
use crate::protocol::ServerFrame;
use crate::server::auth::handlers::LOGGED_OUT;
use crate::server::hub::Outbound;
use crate::server::state::AppState;
use crate::server::ws::greeting::announce_presence;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Starts the bus tasks; they end when `stop` is cancelled.
pub fn spawn(state: &AppState, pending: Pending, stop: CancellationToken) -> Vec<JoinHandle<()>> {
    let Pending {
        bus,
        client,
        outbox,
    } = pending;
    let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
    vec![
        tokio::spawn(
            bus.clone()
                .run_publisher(client.clone(), outbox, stop.clone()),
        ),
        tokio::spawn(
            bus.clone()
                .run_subscriber(client, incoming_tx, stop.clone()),
        ),
        tokio::spawn(apply_incoming(state.clone(), bus.clone(), incoming_rx)),
        tokio::spawn(heartbeat(state.clone(), bus, stop)),
    ]
}

/// Tells the other nodes this one is going (best-effort; otherwise its heartbeat lapses).
pub fn leave(state: &AppState) {
    if let Some(bus) = state.hub.bus() {
        bus.publish(Event::Leaving);
    }
}

async fn apply_incoming(
    state: AppState,
    bus: Arc<Bus>,
    mut incoming: mpsc::UnboundedReceiver<Incoming>,
) {
    while let Some(item) = incoming.recv().await {
        match item {
            Incoming::Event(envelope) => apply(&state, &bus, envelope).await,
            Incoming::Reconnected => {
                tracing::info!("bus: back after a failure; sockets resync");
                resync_local(&state);
                publish_snapshot(&state, &bus);
            }
        }
    }
}

fn resync_local(state: &AppState) {
    state
        .hub
        .deliver_to_all(&Outbound::frame(ServerFrame::Resync.to_json()));
}

async fn apply(state: &AppState, bus: &Bus, envelope: Envelope) {
    let Envelope { node, event } = envelope;
    let hub = &state.hub;
    if !matches!(event, Event::Leaving) {
        bus.remote.touch(&node);
    }
    match event {
        Event::ToKey { key, item, mark } => {
            let delivered = hub.deliver(&key, &item.into());
            if let (true, Some(mark)) = (delivered > 0, mark) {
                let Mark {
                    reader,
                    peer,
                    up_to_seq,
                } = mark;
                // Coalesced with this node's own deliveries: one watermark write per
                // conversation, not one per message between the batch's appends.
                let writer = &state.writer;
                writer.mark_delivered_later(reader, peer, up_to_seq).await;
            }
        }
        Event::ToAgents { item } => {
            hub.deliver_to_agents(&item.into());
        }
        Event::CloseSession { session } => hub.close_session_here(&session, LOGGED_OUT),
        Event::Online { key } => {
            let keys = [key.clone()];
            changing(state, &keys, || bus.remote.online(&node, &key)).await
        }
        Event::Offline { key } => {
            let keys = [key.clone()];
            changing(state, &keys, || bus.remote.offline(&node, &key)).await
        }
        Event::Availability { agent, available } => {
            bus.remote.availability(&node, &agent, available);
            hub.follow_available(&agent, available);
        }
        Event::Snapshot { keys, agents } => {
            let diff = bus.remote.snapshot_diff(&node, &keys);
            changing(state, &diff, || bus.remote.replace(&node, keys, agents)).await
        }
        Event::Leaving => {
            let keys = bus.remote.keys_of(&node);
            changing(state, &keys, || bus.remote.forget(&node)).await
        }
        Event::Resync => resync_local(state),
    }
}

/// Runs `change` on the remote view and tells local sockets about every user whose
/// cluster-wide presence it flipped.
async fn changing(state: &AppState, keys: &[String], change: impl FnOnce()) {
    let users: Vec<&String> = keys.iter().filter(|k| !k.contains(':')).collect();
    let before: Vec<bool> = users.iter().map(|k| state.hub.is_online(k)).collect();
    change();
    for (user, was) in users.into_iter().zip(before) {
        let now = state.hub.is_online(user);
        if now != was {
            announce_presence(state, user, now).await;
        }
    }
}

fn publish_snapshot(state: &AppState, bus: &Bus) {
    bus.publish(Event::Snapshot {
        keys: state.hub.local_keys(),
        agents: state.hub.local_agents(),
    });
}

/// Every third of the time to live: publish this node's presence, forget nodes that lapsed.
async fn heartbeat(state: AppState, bus: Arc<Bus>, stop: CancellationToken) {
    let period = Duration::from_millis((state.settings.node_ttl_ms / 3).max(100));
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        publish_snapshot(&state, &bus);
        for node in bus.remote.lapsed() {
            tracing::warn!(%node, "bus: node lapsed");
            let keys = bus.remote.keys_of(&node);
            changing(&state, &keys, || bus.remote.forget(&node)).await;
        }
    }
}
