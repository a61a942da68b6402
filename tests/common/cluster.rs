//! Helpers for the multi-node tests: a private `redis-server` per test (tests stop and restart
//! it), nodes in this process or as real `confab` processes, all on one fresh PostgreSQL
//! database, and [`run_chatter`], a client that keeps talking through outages and reports what
//! it got.
//!
//! The multi-node tests need PostgreSQL (`CONFAB_TEST_POSTGRES_URL`, see `scripts/test.sh`);
//! without it they say so and return, unless `CONFAB_REQUIRE_CLUSTER_TESTS=1` (CI), which makes
//! a missing PostgreSQL a failure.

use super::{fresh_postgres_database, postgres_url, spawn_app_with, TestApp, TestDatabase};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Nodes in these tests forget a silent peer after this long.
pub const NODE_TTL_MS: u64 = 1500;

/// The shared database of a test cluster, or `None` (test skipped) without PostgreSQL.
pub async fn cluster_database(test: &str) -> Option<TestDatabase> {
    match postgres_url() {
        Some(server) => Some(fresh_postgres_database(&server).await),
        None if std::env::var("CONFAB_REQUIRE_CLUSTER_TESTS").as_deref() == Ok("1") => {
            panic!("{test} needs PostgreSQL: set CONFAB_TEST_POSTGRES_URL=$(scripts/postgres.sh)")
        }
        None => {
            eprintln!("skipped {test}: multi-node tests need CONFAB_TEST_POSTGRES_URL");
            None
        }
    }
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    probe.local_addr().expect("local addr").port()
}

/// A `redis-server` of this test's own, on a free loopback port.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.start_again().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it (again) on the same port and waits until it answers.
    pub async fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts (scripts/setup.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers().await {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn answers(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut tcp) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let mut buf = [0u8; 16];
        tcp.write_all(b"PING\r\n").await.is_ok()
            && matches!(tcp.read(&mut buf).await, Ok(n) if buf[..n].starts_with(b"+PONG"))
    }

    /// Kills it (no goodbye to its clients).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

/// A node in this process on the cluster's database and bus.
pub async fn spawn_node(database_url: &str, redis: &RedisServer, channel: &str) -> TestApp {
    let (db, redis_url, channel) = (database_url.to_owned(), redis.url(), channel.to_owned());
    spawn_app_with(move |s| {
        s.database_url = db;
        s.redis_url = Some(redis_url);
        s.redis_channel = channel;
        s.node_ttl_ms = NODE_TTL_MS;
        s.rate_per_sec = 10_000;
        s.rate_burst = 10_000;
    })
    .await
}

/// A node as a real `confab` process (so it can be killed with SIGKILL).
pub async fn spawn_node_process(
    database_url: &str,
    redis: &RedisServer,
    channel: &str,
) -> (Child, SocketAddr) {
    super::process::spawn_confab(&[
        ("DATABASE_URL", database_url.to_owned()),
        ("REDIS_URL", redis.url()),
        ("CONFAB_REDIS_CHANNEL", channel.to_owned()),
        ("CONFAB_NODE_TTL_MS", NODE_TTL_MS.to_string()),
        ("CONFAB_RATE_PER_SEC", "10000".to_owned()),
        ("CONFAB_RATE_BURST", "10000".to_owned()),
    ])
    .await
}

/// Two nodes in this process on a fresh database and a private Redis, both on the bus.
/// Fields drop in order: nodes first, the database last. Bind every field (`redis: _redis`,
/// not `..`): a field left out of a pattern is dropped on the spot.
pub struct TwoNodes {
    pub n1: TestApp,
    pub n2: TestApp,
    pub redis: RedisServer,
    pub db: TestDatabase,
}

/// [`TwoNodes`], or `None` (the test is skipped) without PostgreSQL.
pub async fn two_nodes(test: &str) -> Option<TwoNodes> {
    let db = cluster_database(test).await?;
    let redis = RedisServer::start().await;
    let ch = channel();
    let n1 = spawn_node(&db.url, &redis, &ch).await;
    let n2 = spawn_node(&db.url, &redis, &ch).await;
    wait_bus(&n1, "up").await;
    wait_bus(&n2, "up").await;
    Some(TwoNodes { n1, n2, redis, db })
}

/// A random bus channel, so clusters of tests running at once never hear each other.
pub fn channel() -> String {
    format!("confab-test:{:016x}", rand::random::<u64>())
}

/// Waits until `/readyz` of `app` says the bus is `state` (e.g. "up").
pub async fn wait_bus(app: &TestApp, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = app.get("/readyz", None).await;
        if reply
            .json
            .as_ref()
            .is_some_and(|j| j["bus"]["state"] == state)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "bus never became {state}: {:?}",
            reply.json
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What one chatting user saw.
#[derive(Debug, Default)]
pub struct ChatReport {
    /// client_msg_id → seq, from `accepted`.
    pub accepted: HashMap<String, u64>,
    /// seq → (from, client_msg_id) of every message of the conversation received.
    pub received: BTreeMap<u64, (String, String)>,
    /// Message frames whose seq this client already had (overlap of live and sync).
    pub repeated: usize,
    pub resyncs: usize,
    pub reconnects: usize,
}

impl ChatReport {
    /// The newest seq with nothing missing before it.
    fn contiguous(&self) -> u64 {
        let mut last = 0;
        for seq in self.received.keys() {
            if *seq != last + 1 {
                break;
            }
            last = *seq;
        }
        last
    }

    /// client_msg_ids of messages from `from` received.
    pub fn from(&self, from: &str) -> Vec<String> {
        self.received
            .values()
            .filter(|(f, _)| f == from)
            .map(|(_, c)| c.clone())
            .collect()
    }
}

/// One user of a two-person conversation who sends `count` messages to `peer`, one every
/// `every`, and keeps going through trouble: a `resync` or a seq gap makes it `sync` from its
/// newest contiguous seq; a dropped socket makes it connect to the next node in `nodes` and
/// resend what was not acknowledged (same client_msg_id). It stops when all its messages are
/// accepted and the conversation's 2 × `count` messages have arrived, or at `deadline`.
pub async fn run_chatter(
    nodes: Vec<SocketAddr>,
    cookie: String,
    me: String,
    peer: String,
    count: usize,
    every: Duration,
    deadline: Instant,
) -> ChatReport {
    let mut report = ChatReport::default();
    let mut sent = 0usize;
    let mut node = 0usize;
    let mut first = true;
    'connect: while Instant::now() < deadline {
        let addr = nodes[node % nodes.len()];
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(&cookie).unwrap());
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(request),
        )
        .await
        else {
            node += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if !first {
            report.reconnects += 1;
        }
        first = false;
        let mut out: Vec<Value> = Vec::new();
        // Catch up and resend whatever was not acknowledged, as a client does after a drop.
        if report.contiguous() > 0 || sent > 0 {
            out.push(json!({"type": "sync", "peer": peer, "after_seq": report.contiguous()}));
        }
        for i in 0..sent {
            let cmid = format!("{me}-{i}");
            if !report.accepted.contains_key(&cmid) {
                out.push(json!({"type": "send", "to": peer, "body": format!("m{i}"), "client_msg_id": cmid}));
            }
        }
        let mut tick = tokio::time::interval(every);
        loop {
            for frame in out.drain(..) {
                if ws
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .is_err()
                {
                    node += 1;
                    continue 'connect;
                }
            }
            // Done when everything is acknowledged and the whole conversation is here: the
            // peer's messages and the copies of this user's own.
            let peer_done = report.from(&peer).len() >= count;
            let own_done = report.from(&me).len() >= count;
            if report.accepted.len() >= count && peer_done && own_done {
                let _ = ws.close(None).await;
                return report;
            }
            if Instant::now() >= deadline {
                return report;
            }
            tokio::select! {
                _ = tick.tick(), if sent < count => {
                    let cmid = format!("{me}-{sent}");
                    out.push(json!({"type": "send", "to": peer, "body": format!("m{sent}"), "client_msg_id": cmid}));
                    sent += 1;
                }
                _ = tokio::time::sleep_until(deadline) => return report,
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(_)) => continue,
                        // The node went away: try the next one.
                        _ => {
                            node += 1;
                            continue 'connect;
                        }
                    };
                    let v: Value = serde_json::from_str(text.as_str()).expect("JSON frame");
                    match v["type"].as_str() {
                        Some("accepted") => {
                            let cmid = v["client_msg_id"].as_str().unwrap().to_owned();
                            let seq = v["seq"].as_u64().unwrap();
                            if let Some(old) = report.accepted.insert(cmid.clone(), seq) {
                                assert_eq!(old, seq, "{cmid} accepted twice with different seqs");
                            }
                        }
                        Some("message") => {
                            let seq = v["seq"].as_u64().unwrap();
                            let entry = (
                                v["from"].as_str().unwrap().to_owned(),
                                v["client_msg_id"].as_str().unwrap().to_owned(),
                            );
                            let before = report.contiguous();
                            match report.received.insert(seq, entry.clone()) {
                                Some(old) => {
                                    assert_eq!(old, entry, "seq {seq} names two messages");
                                    report.repeated += 1;
                                }
                                None if seq > before + 1 => {
                                    // A hole before this one: ask the store.
                                    out.push(json!({"type": "sync", "peer": peer, "after_seq": before}));
                                }
                                None => {}
                            }
                        }
                        Some("resync") => {
                            report.resyncs += 1;
                            out.push(json!({"type": "sync", "peer": peer, "after_seq": report.contiguous()}));
                        }
                        Some("error") => panic!("{me} got an error: {v}"),
                        _ => {}
                    }
                }
            }
        }
    }
    report
}

/// One side of a chatting pair: who, with which session, through which nodes (in order).
pub struct Talker {
    pub name: String,
    pub cookie: String,
    pub nodes: Vec<SocketAddr>,
}

/// Starts both sides of a pair ([`run_chatter`]), each sending `count` messages to the other.
pub fn spawn_pair(
    a: Talker,
    b: Talker,
    count: usize,
    every: Duration,
    deadline: Instant,
) -> [tokio::task::JoinHandle<ChatReport>; 2] {
    let start = |me: Talker, peer: String| {
        tokio::spawn(run_chatter(
            me.nodes, me.cookie, me.name, peer, count, every, deadline,
        ))
    };
    let (a_name, b_name) = (a.name.clone(), b.name.clone());
    [start(a, b_name), start(b, a_name)]
}

/// Waits for every chatter and checks each pair (tasks in [`spawn_pair`] order, `names` one
/// (a, b) per pair); returns the reports, two per pair.
pub async fn finish_pairs(
    tasks: Vec<tokio::task::JoinHandle<ChatReport>>,
    names: &[(String, String)],
    count: usize,
) -> Vec<ChatReport> {
    let mut reports = Vec::new();
    for task in tasks {
        reports.push(task.await.expect("chatter"));
    }
    for (pair, (a, b)) in names.iter().enumerate() {
        let (a_report, b_report) = (&reports[2 * pair], &reports[2 * pair + 1]);
        assert_pair_complete((a, a_report), (b, b_report), count);
    }
    reports
}

/// Checks a pair's reports: each side's messages all accepted once, with distinct seqs, and
/// received by the other side; both sides agree on every seq, and seqs run 1..=n without holes.
pub fn assert_pair_complete(a: (&str, &ChatReport), b: (&str, &ChatReport), count: usize) {
    for ((me, mine), (peer, theirs)) in [(a, b), (b, a)] {
        assert_eq!(mine.accepted.len(), count, "{me}: every send accepted");
        let mut got = theirs.from(me);
        got.sort();
        let mut want: Vec<String> = mine.accepted.keys().cloned().collect();
        want.sort();
        assert_eq!(
            got, want,
            "{peer} received every message of {me}, once each"
        );
        for (cmid, seq) in &mine.accepted {
            assert_eq!(
                theirs.received.get(seq).map(|(_, c)| c.as_str()),
                Some(cmid.as_str()),
                "{peer} has {me}'s {cmid} at seq {seq}"
            );
        }
    }
    let seqs: Vec<u64> = a.1.received.keys().copied().collect();
    assert_eq!(
        seqs,
        (1..=(2 * count) as u64).collect::<Vec<_>>(),
        "seqs without holes"
    );
    assert_eq!(
        a.1.received, b.1.received,
        "both sides hold the same conversation"
    );
}
