//! Two nodes on one PostgreSQL and one Redis: direct messages, receipts, presence, logout and
//! customer support work across nodes as on one.
#![cfg(feature = "ssr")]

mod common;

use common::cluster::{two_nodes, TwoNodes};
use common::support::{agent_cookie, new_customer, SupportClient};
use common::WsClient;
use serde_json::json;

#[tokio::test]
async fn users_on_different_nodes_exchange_messages_with_receipts_and_presence() {
    let Some(TwoNodes {
        n1,
        n2,
        redis: _redis,
        db: _db,
    }) = two_nodes("users_on_different_nodes_exchange_messages").await
    else {
        return;
    };

    // Accounts and sessions live in the shared database: a cookie from one node works on both.
    let alice_cookie = n1.register("alice").await;
    let bob_cookie = n2.register("bob").await;
    let mut alice = n1.connect(&alice_cookie).await;
    let mut bob = n2.connect(&bob_cookie).await;

    let accepted = alice.dm("bob", "hello across nodes", "a1").await;
    assert_eq!(
        accepted["delivered"], true,
        "bob is online on the other node"
    );
    let got = bob.expect_message("a1").await;
    assert_eq!(got["body"], "hello across nodes");
    assert_eq!(got["from"], "alice");
    alice
        .expect_where("delivered receipt from bob's node", |f| {
            f["type"] == "receipt" && f["kind"] == "delivered" && f["up_to_seq"] == 1
        })
        .await;

    bob.dm("alice", "and back", "b1").await;
    assert_eq!(alice.expect_message("b1").await["seq"], 2);
    bob.send_json(json!({"type": "read", "peer": "alice", "up_to_seq": 2}))
        .await;
    alice
        .expect_where("read receipt", |f| {
            f["type"] == "receipt" && f["kind"] == "read" && f["up_to_seq"] == 2
        })
        .await;

    // Typing crosses nodes too.
    alice
        .send_json(json!({"type": "typing", "peer": "bob"}))
        .await;
    bob.expect_where("typing", |f| f["type"] == "typing" && f["from"] == "alice")
        .await;

    // A second tab on the other node does not make alice come online twice, and closing one
    // of her two tabs does not make her go offline.
    let mut alice2 = WsClient::connect(&n2, &alice_cookie).await;
    alice2.ping_pong().await;
    alice.close().await;
    bob.dm("alice", "still there?", "b2").await;
    alice2.expect_message("b2").await;
    assert!(
        !bob.saw(|f| f["type"] == "presence" && f["user"] == "alice" && f["online"] == false),
        "alice still has a tab: no offline presence"
    );
    alice2.close().await;
    bob.expect_where("alice offline once her last tab closed", |f| {
        f["type"] == "presence" && f["user"] == "alice" && f["online"] == false
    })
    .await;

    // Offline again: the next message waits in the store and comes with her next hello.
    let later = bob.dm("alice", "saved for later", "b3").await;
    assert_eq!(later["delivered"], false);
    let mut alice3 = WsClient::connect(&n1, &alice_cookie).await;
    alice3.expect_message("b3").await;
    bob.expect_where("presence online", |f| {
        f["type"] == "presence" && f["user"] == "alice" && f["online"] == true
    })
    .await;
}

#[tokio::test]
async fn logout_on_one_node_closes_the_sessions_sockets_on_the_other() {
    let Some(TwoNodes {
        n1,
        n2,
        redis: _redis,
        db: _db,
    }) = two_nodes("logout_on_one_node").await
    else {
        return;
    };
    let cookie = n1.register("carol").await;
    let mut on_n2 = n2.connect(&cookie).await;
    assert_eq!(n1.logout(&cookie).await.status, 204);
    assert_eq!(on_n2.expect_closed().await.code(), Some(1008));
}

#[tokio::test]
async fn an_agent_on_one_node_serves_a_customer_on_the_other() {
    let Some(TwoNodes {
        n1,
        n2,
        redis: _redis,
        db: _db,
    }) = two_nodes("an_agent_on_one_node_serves_a_customer").await
    else {
        return;
    };
    let cookie = agent_cookie(&n1, "agnes").await;
    let mut agent = n1.connect(&cookie).await;
    agent.ping_pong().await;
    // Node 2 learns that an agent is online on node 1 (presence crosses the bus).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let customer = new_customer(&n2, "Dora").await;
    let mut dora = SupportClient::connect(&n2, &customer.cookie).await;
    let id = dora.conversation_id();
    let accepted = dora.say("my parcel is late", "c1").await;
    assert_eq!(accepted["delivered"], true, "an agent is online on node 1");
    // Assigned automatically to the agent on the other node, who sees message and queue.
    dora.expect_status("assigned", Some("agnes")).await;
    let msg = agent
        .expect_where("the customer's message", |f| {
            f["type"] == "message" && f["client_msg_id"] == "c1"
        })
        .await;
    assert_eq!(msg["conversation_id"], id.as_str());
    agent
        .expect_where("queue entry assigned to agnes", |f| {
            f["type"] == "queue"
                && f["conversations"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|e| e["assignee"] == "agnes"))
        })
        .await;

    agent
        .send_json(
            json!({"type": "send", "conversation_id": id, "body": "on it", "client_msg_id": "g1"}),
        )
        .await;
    let accepted = agent.expect_accepted("g1").await;
    assert_eq!(accepted["delivered"], true, "the customer is on node 2");
    let reply = dora.expect_message("g1").await;
    assert_eq!(reply["body"], "on it");
    assert_eq!(reply["from"], "agnes");

    // Typing from the customer reaches the agent on the other node.
    dora.send_json(json!({"type": "typing"})).await;
    agent
        .expect_where("customer typing", |f| {
            f["type"] == "typing" && f["conversation_id"] == id.as_str()
        })
        .await;
}

#[tokio::test]
async fn an_agent_on_one_node_claims_a_waiting_conversation_from_the_other() {
    let Some(TwoNodes {
        n1,
        n2,
        redis: _redis,
        db: _db,
    }) = two_nodes("an_agent_on_one_node_claims").await
    else {
        return;
    };
    let cookie = agent_cookie(&n1, "otto").await;
    let mut agent = n1.connect(&cookie).await;
    // Away: node 2 must not hand him anything automatically.
    agent
        .send_json(json!({"type": "availability", "available": false}))
        .await;
    agent.ping_pong().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let customer = new_customer(&n2, "Erin").await;
    let mut erin = SupportClient::connect(&n2, &customer.cookie).await;
    let id = erin.conversation_id();
    erin.say("anyone there?", "e1").await;
    erin.expect_status("open", None).await;
    // The agent on node 1 sees the waiting conversation in his queue, and claims it.
    agent
        .expect_where("the waiting conversation", |f| {
            f["type"] == "queue"
                && f["conversations"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|e| e["conversation_id"] == id.as_str() && e["status"] == "open")
                })
        })
        .await;
    agent
        .send_json(json!({"type": "claim", "conversation_id": id}))
        .await;
    erin.expect_status("assigned", Some("otto")).await;
    agent
        .send_json(json!({"type": "send", "conversation_id": id, "body": "hi Erin", "client_msg_id": "o1"}))
        .await;
    agent.expect_accepted("o1").await;
    assert_eq!(erin.expect_message("o1").await["from"], "otto");
}
