//! `GET /api/support/conversations/{id}/transcript`: the whole conversation for agents.
#![cfg(feature = "ssr")]

mod common;

use common::support::{self, customer, AgentConsole};
use common::{spawn_app, spawn_app_with, TestApp};

fn path(id: &str, query: &str) -> String {
    format!("/api/support/conversations/{id}/transcript{query}")
}

/// A conversation with a customer message, an agent reply and a second customer message.
async fn conversation(app: &TestApp) -> (String, String) {
    let (ann_cookie, mut ann) = support::agent(app, "ann").await;
    let (c, mut socket) = customer(app, "Tess").await;
    socket.say("hello", "tx-1").await;
    ann.expect_assigned(&c.conversation_id, "ann").await;
    ann.support_reply(&c.conversation_id, "hi Tess", "tx-a")
        .await;
    socket.say("bye: thanks!", "tx-2").await;
    (ann_cookie, c.conversation_id)
}

#[tokio::test]
async fn transcript_as_json_has_the_conversation_and_every_message() {
    let app = spawn_app().await;
    let (cookie, id) = conversation(&app).await;
    let reply = app.get(&path(&id, "?format=json"), Some(&cookie)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let json = reply.json.expect("JSON body");
    assert_eq!(json["conversation_id"], id.as_str());
    assert_eq!(json["customer"], "Tess");
    assert_eq!(json["status"], "assigned");
    assert_eq!(json["assignee"], "ann");
    common::assert_rfc3339_utc(&json["created_at"]);
    let messages = json["messages"].as_array().unwrap();
    assert_eq!(common::seqs(messages), vec![1, 2, 3]);
    let summary: Vec<(&str, &str, &str)> = messages
        .iter()
        .map(|m| {
            (
                m["from_role"].as_str().unwrap(),
                m["from"].as_str().unwrap(),
                m["body"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("customer", "Tess", "hello"),
            ("agent", "ann", "hi Tess"),
            ("customer", "Tess", "bye: thanks!"),
        ]
    );
}

#[tokio::test]
async fn transcript_as_text_is_one_line_per_message_and_is_the_default() {
    let app = spawn_app().await;
    let (cookie, id) = conversation(&app).await;
    let json = app.get(&path(&id, "?format=json"), Some(&cookie)).await;
    let messages = json.json.unwrap()["messages"].as_array().unwrap().clone();
    for query in ["?format=text", ""] {
        let reply = app.get(&path(&id, query), Some(&cookie)).await;
        assert_eq!(reply.status, 200, "{query}: {reply:?}");
        assert!(
            reply
                .content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("text/plain")),
            "{query}: {reply:?}"
        );
        let expected: Vec<String> = messages
            .iter()
            .map(|m| {
                format!(
                    "[{}] {} ({}): {}",
                    m["sent_at"].as_str().unwrap(),
                    m["from"].as_str().unwrap(),
                    m["from_role"].as_str().unwrap(),
                    m["body"].as_str().unwrap()
                )
            })
            .collect();
        let lines: Vec<&str> = reply.text.lines().filter(|l| l.starts_with('[')).collect();
        assert_eq!(lines, expected, "{query}: {}", reply.text);
        assert!(lines[1].ends_with("ann (agent): hi Tess"));
    }
}

#[tokio::test]
async fn transcript_holds_every_message_of_a_long_conversation() {
    let app = spawn_app_with(|s| {
        s.rate_per_sec = 1000;
        s.rate_burst = 1000;
    })
    .await;
    let cookie = support::agent_cookie(&app, "ann").await;
    let (c, mut socket) = customer(&app, "Long").await;
    for i in 1..=120 {
        socket.send(&format!("line {i}"), &format!("lg-{i}")).await;
    }
    socket.expect_accepted("lg-120").await;
    let reply = app
        .get(&path(&c.conversation_id, "?format=json"), Some(&cookie))
        .await;
    let json = reply.json.expect("JSON");
    let messages = json["messages"].as_array().unwrap();
    assert_eq!(
        common::seqs(messages),
        (1..=120).collect::<Vec<u64>>(),
        "not only a page"
    );
}

#[tokio::test]
async fn transcript_is_for_agents_only_and_checks_its_input() {
    let app = spawn_app().await;
    let (agent_cookie, id) = conversation(&app).await;

    let anonymous = app.get(&path(&id, "?format=json"), None).await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert_eq!(anonymous.error_code(), "unauthorized");

    let user = app.register("bob").await;
    let forbidden = app.get(&path(&id, "?format=json"), Some(&user)).await;
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    assert_eq!(forbidden.error_code(), "forbidden");
    assert!(!forbidden.text.contains("hello"), "{forbidden:?}");

    let (other, _socket) = customer(&app, "Other").await;
    let as_customer = app
        .get(&path(&id, "?format=json"), Some(&other.cookie))
        .await;
    assert_eq!(
        as_customer.status, 401,
        "a customer cookie is no session: {as_customer:?}"
    );

    let unknown = app
        .get(
            &path("no-such-conversation", "?format=json"),
            Some(&agent_cookie),
        )
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert_eq!(unknown.error_code(), "not_found");

    let bad = app
        .get(&path(&id, "?format=pdf"), Some(&agent_cookie))
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(bad.error_code(), "invalid_input");
}
