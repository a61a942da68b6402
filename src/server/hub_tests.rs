//! Tests of the hub: fan-out to every socket, caps, slow consumers, session close.

use super::*;

fn frame(text: &str) -> Outbound {
    Outbound::frame(text)
}

#[test]
fn every_socket_of_a_user_gets_the_frame() {
    let hub = Hub::new(8);
    let mut a = hub.register("ann", Arc::from("s1"), 4).unwrap();
    let mut b = hub.register("ann", Arc::from("s2"), 4).unwrap();
    assert!(a.first && !b.first);
    assert_eq!(hub.send_to_user("ann", &frame("x")), 2);
    assert!(a.rx.try_recv().is_ok() && b.rx.try_recv().is_ok());
    assert_eq!(hub.send_to_user("bob", &frame("x")), 0);
}

#[test]
fn register_refuses_past_the_cap() {
    let hub = Hub::new(8);
    let _a = hub.register("ann", Arc::from("s"), 1).unwrap();
    assert!(hub.register("ann", Arc::from("s"), 1).is_none());
}

#[test]
fn slow_consumer_is_closed_and_dropped_when_its_queue_is_full() {
    let hub = Hub::new(2);
    let reg = hub.register("ann", Arc::from("s"), 4).unwrap();
    assert_eq!(hub.send_to_user("ann", &frame("1")), 1);
    assert_eq!(hub.send_to_user("ann", &frame("2")), 1);
    assert_eq!(hub.send_to_user("ann", &frame("3")), 0);
    assert_eq!(reg.control.close_reason(), Some(SLOW_CONSUMER));
    assert!(!hub.is_online("ann"));
    assert_eq!(
        hub.send_to_user("ann", &frame("4")),
        0,
        "a closing socket gets nothing"
    );
    assert!(
        hub.unregister("ann", reg.id),
        "its departure is still announced"
    );
}

#[test]
fn unregister_reports_the_last_socket() {
    let hub = Hub::new(2);
    let a = hub.register("ann", Arc::from("s"), 4).unwrap();
    let b = hub.register("ann", Arc::from("s"), 4).unwrap();
    assert!(!hub.unregister("ann", a.id));
    assert!(hub.unregister("ann", b.id));
}

#[test]
fn close_session_closes_only_that_sessions_sockets() {
    let hub = Hub::new(2);
    let a = hub.register("ann", Arc::from("s1"), 4).unwrap();
    let b = hub.register("ann", Arc::from("s2"), 4).unwrap();
    hub.close_session(
        "s1",
        CloseReason {
            code: 1008,
            reason: "bye",
        },
    );
    assert!(a.control.close_reason().is_some());
    assert!(b.control.close_reason().is_none());
}

fn clustered() -> (Hub, Arc<Bus>) {
    let (bus, _outbox) = Bus::new(
        "n1".into(),
        "test".into(),
        std::time::Duration::from_secs(5),
    );
    (Hub::with_bus(8, bus.clone()), bus)
}

#[test]
fn a_user_on_another_node_counts_as_online_but_is_unreachable_while_the_bus_is_down() {
    let (hub, bus) = clustered();
    assert!(!hub.is_online("bob"));
    bus.remote.online("n2", "bob");
    assert!(hub.is_online("bob"), "online somewhere in the cluster");
    assert!(!hub.is_online_here("bob"));
    assert!(
        !hub.reachable_elsewhere("bob"),
        "a frame published now would not get there: the bus is not connected"
    );
}

#[test]
fn agents_on_other_nodes_take_part_in_assignment() {
    let (hub, bus) = clustered();
    let _me = hub.register("ann", Arc::from("s"), 4).unwrap();
    hub.set_available("ann", false);
    bus.remote.availability("n2", "zed", true);
    assert_eq!(hub.agents_online(), 2);
    assert_eq!(hub.available_agents(), vec!["zed".to_owned()]);
}

#[test]
fn a_queued_item_is_two_words() {
    // Every socket's queue allocates 32 slots when it opens: a wider item costs each idle
    // socket 256 bytes per extra word.
    assert_eq!(
        std::mem::size_of::<Outbound>(),
        2 * std::mem::size_of::<usize>()
    );
}
