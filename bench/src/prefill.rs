//! Filling a Confab SQLite store directly, between two runs of the server (which created the
//! schema with its own migrations): the idle-socket users with live sessions (one socket per
//! account, as in real use, without 19 000 argon2 registrations), and a message store of a
//! given size. Half the messages form the conversation whose history is paged; the rest are
//! spread over 100 other conversations.

use crate::util::Rng;
use anyhow::{ensure, Context};
use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};
use std::path::Path;

pub struct Filled {
    /// `(user, session cookie)` of every idle user.
    pub sessions: Vec<(String, String)>,
    /// Last seq of the paged conversation.
    pub history_last_seq: u64,
}

const FILLER_CONVERSATIONS: u64 = 100;
const BATCH: u64 = 50_000;

/// Blocking; run it off the async threads. `pair` must already be registered.
pub fn fill(
    db: &Path,
    pair: (&str, &str),
    total_messages: u64,
    idle_users: &[String],
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Filled> {
    let mut conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let registered: i64 = conn.query_row(
        "SELECT COUNT(*) FROM users WHERE username IN (?1, ?2)",
        params![pair.0, pair.1],
        |r| r.get(0),
    )?;
    ensure!(registered == 2, "the history pair is not registered");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let created = crate::util::utc_iso();
    let mut rng = Rng::new(crate::util::clock_seed());
    let mut sessions = Vec::with_capacity(idle_users.len());
    let tx = conn.transaction()?;
    {
        let mut user = tx.prepare(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?1, '!', 'user', ?2)",
        )?;
        let mut session = tx.prepare(
            "INSERT INTO sessions (token_hash, username, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for name in idle_users {
            let token = rng.hex(43);
            let hash = hex(&Sha256::digest(token.as_bytes()));
            user.execute(params![name, created])?;
            session.execute(params![hash, name, now_ms, now_ms + 7 * 86_400_000])?;
            sessions.push((name.clone(), token));
        }
    }
    tx.commit()?;

    let history_last_seq = (total_messages / 2).max(1);
    let mut plan = vec![(pair.0.to_owned(), pair.1.to_owned(), history_last_seq)];
    let rest = total_messages - history_last_seq;
    for k in 0..FILLER_CONVERSATIONS {
        let n = rest / FILLER_CONVERSATIONS + u64::from(k < rest % FILLER_CONVERSATIONS);
        if n > 0 {
            plan.push((format!("fill{k:03}a"), format!("fill{k:03}b"), n));
        }
    }
    progress.set_length(total_messages);
    let mut counter: u64 = 0;
    for (a, b, n) in &plan {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let tx = conn.transaction()?;
        for name in [a, b] {
            tx.execute(
                "INSERT OR IGNORE INTO users (username, password_hash, role, created_at) VALUES (?1, '!', 'user', ?2)",
                params![name, created],
            )?;
        }
        tx.execute(
            "INSERT INTO conversations (user_lo, user_hi, last_seq, updated_at) VALUES (?1, ?2, ?3, ?4)",
            params![lo, hi, *n as i64, created],
        )?;
        let conversation = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO members (conversation_id, username, delivered_seq, read_seq) VALUES (?1, ?2, ?4, ?4), (?1, ?3, ?4, ?4)",
            params![conversation, lo, hi, *n as i64],
        )?;
        tx.commit()?;
        let mut seq = 1;
        while seq <= *n {
            let end = (seq + BATCH - 1).min(*n);
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO messages (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for s in seq..=end {
                    counter += 1;
                    let (from, to) = if s % 2 == 0 { (a, b) } else { (b, a) };
                    let id = format!("00000000-0000-7000-8000-{counter:012x}");
                    let body = format!(
                        "stored message {s} of conversation {conversation}, some typical chat text"
                    );
                    insert.execute(params![
                        conversation,
                        s as i64,
                        id,
                        from,
                        to,
                        body,
                        format!("fill-{counter:010}"),
                        created
                    ])?;
                }
            }
            tx.commit()?;
            progress.set_position(counter);
            seq = end + 1;
        }
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(Filled {
        sessions,
        history_last_seq,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
