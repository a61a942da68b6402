//! Two nodes under load while things break: Redis stops and comes back, a node is killed with
//! SIGKILL. The store is the source of truth, so nobody loses or doubles a message and seqs
//! keep their order; the bus only makes delivery fast.
#![cfg(feature = "ssr")]

mod common;

use common::cluster::{
    channel, cluster_database, finish_pairs, spawn_node, spawn_node_process, spawn_pair, wait_bus,
    RedisServer, Talker, NODE_TTL_MS,
};
use common::process::kill_9;
use common::TestApp;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::process::Child;
use tokio::time::Instant;

/// Messages each user sends in the load tests.
const COUNT: usize = 150;
const EVERY: Duration = Duration::from_millis(10);

/// A node in a child process (to be killed) and a surviving node in this one, on one database
/// and one private Redis.
struct DoomedAndSurvivor {
    doomed: Child,
    doomed_addr: SocketAddr,
    /// Helpers against the doomed node; owns the database (dropped when the test ends).
    on_doomed: TestApp,
    survivor: TestApp,
    _redis: RedisServer,
}

async fn doomed_and_survivor(test: &str) -> Option<DoomedAndSurvivor> {
    let db = cluster_database(test).await?;
    let redis = RedisServer::start().await;
    let ch = channel();
    let db_url = db.url.clone();
    let (doomed, doomed_addr) = spawn_node_process(&db_url, &redis, &ch).await;
    let survivor = spawn_node(&db_url, &redis, &ch).await;
    wait_bus(&survivor, "up").await;
    Some(DoomedAndSurvivor {
        doomed,
        doomed_addr,
        on_doomed: TestApp::external(doomed_addr, db),
        survivor,
        _redis: redis,
    })
}

#[tokio::test]
async fn a_redis_outage_under_load_loses_and_duplicates_nothing() {
    let Some(db) = cluster_database("a_redis_outage_under_load").await else {
        return;
    };
    let mut redis = RedisServer::start().await;
    let ch = channel();
    // Two real server processes.
    let db_url = db.url.clone();
    let (_p1, a1) = spawn_node_process(&db_url, &redis, &ch).await;
    let (_p2, a2) = spawn_node_process(&db_url, &redis, &ch).await;
    let n1 = TestApp::external(a1, db);
    let n2 = TestApp::external(a2, common::fresh_database().await);
    wait_bus(&n1, "up").await;
    wait_bus(&n2, "up").await;

    // Three pairs, each with one user per node, all talking at once.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut tasks = Vec::new();
    let names: Vec<(String, String)> = (0..3)
        .map(|pair| (format!("ann{pair}"), format!("bob{pair}")))
        .collect();
    for (a, b) in names.iter().cloned() {
        let a = Talker {
            cookie: n1.register(&a).await,
            name: a,
            nodes: vec![n1.addr],
        };
        let b = Talker {
            cookie: n2.register(&b).await,
            name: b,
            nodes: vec![n2.addr],
        };
        tasks.extend(spawn_pair(a, b, COUNT, EVERY, deadline));
    }

    // Mid-load, Redis goes away for two seconds (longer than a node's time to live).
    tokio::time::sleep(Duration::from_millis(400)).await;
    redis.stop().await;
    wait_bus(&n1, "reconnecting").await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    redis.start_again().await;
    wait_bus(&n1, "up").await;
    wait_bus(&n2, "up").await;

    finish_pairs(tasks, &names, COUNT).await;
    // (Messages sent during the outage come back through `resync` or, when later messages
    // arrive first, through gap detection; either way through `sync` from the store.)
}

#[tokio::test]
async fn a_node_killed_mid_load_loses_nothing_and_its_users_reconnect_to_another() {
    let Some(DoomedAndSurvivor {
        mut doomed,
        doomed_addr,
        on_doomed,
        survivor,
        _redis,
    }) = doomed_and_survivor("a_node_killed_mid_load").await
    else {
        return;
    };

    let deadline = Instant::now() + Duration::from_secs(40);
    let mut tasks = Vec::new();
    let names: Vec<(String, String)> = (0..2)
        .map(|pair| (format!("kim{pair}"), format!("sam{pair}")))
        .collect();
    for (a, b) in names.iter().cloned() {
        // kim* start on the doomed node and fall back to the survivor.
        let a = Talker {
            cookie: on_doomed.register(&a).await,
            name: a,
            nodes: vec![doomed_addr, survivor.addr],
        };
        let b = Talker {
            cookie: survivor.register(&b).await,
            name: b,
            nodes: vec![survivor.addr],
        };
        tasks.extend(spawn_pair(a, b, COUNT, EVERY, deadline));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    kill_9(&mut doomed).await;

    let reports = finish_pairs(tasks, &names, COUNT).await;
    for (pair, (kim, _)) in names.iter().enumerate() {
        assert!(
            reports[2 * pair].reconnects >= 1,
            "{kim} moved to the surviving node"
        );
    }
}

#[tokio::test]
async fn users_of_a_dead_node_go_offline_within_the_time_to_live() {
    let Some(DoomedAndSurvivor {
        mut doomed,
        on_doomed,
        survivor,
        _redis,
        ..
    }) = doomed_and_survivor("users_of_a_dead_node_go_offline").await
    else {
        return;
    };

    let (_, mut carol) = on_doomed.user("carol").await;
    let (_, mut dave) = survivor.user("dave").await;
    carol.dm("dave", "hi", "c1").await;
    dave.expect_message("c1").await;
    // dave's node knows carol is online (on the other node).
    let hello_again = survivor.connect(&survivor.login("dave").await).await;
    let convo = common::conversation(&hello_again.hello, "carol").expect("conversation");
    assert_eq!(convo["online"], true);

    kill_9(&mut doomed).await;
    let killed_at = Instant::now();
    dave.expect_where("carol offline", |f| {
        f["type"] == "presence" && f["user"] == "carol" && f["online"] == false
    })
    .await;
    let took = killed_at.elapsed();
    assert!(
        took <= Duration::from_millis(NODE_TTL_MS * 2),
        "carol counted as online {took:?} after her node died"
    );
    // And the next message to her is saved for later, not claimed as delivered.
    let accepted = dave.dm("carol", "are you there?", "d1").await;
    assert_eq!(accepted["delivered"], false);
}
