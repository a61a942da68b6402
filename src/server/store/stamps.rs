//! How the server stamps what it stores: a new message's id and the current time.

/// A new message's server-side id: UUIDv7, so ids sort by time (to the millisecond).
///
/// Its random part comes from the thread's seeded generator: `Uuid::now_v7` asks the kernel
/// for fresh bytes on every call, a syscall per message (about 1 % of the server's CPU under
/// load). An id is an identifier, not a secret, so a CSPRNG seeded once per thread is plenty.
pub fn new_message_id() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let random: [u8; 10] = rand::random();
    let id = uuid::Builder::from_unix_timestamp_millis(since_epoch.as_millis() as u64, &random)
        .into_uuid();
    // Encoded into a buffer rather than through `Display` (`to_string`), which goes through
    // the formatting machinery for every message.
    let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut text).to_owned()
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Now, as the RFC 3339 text (UTC, milliseconds) every stored timestamp uses.
pub fn now_rfc3339() -> String {
    rfc3339_millis(chrono::Utc::now())
}

/// `at` as `2026-12-07T01:07:18.123Z`. Every message is stamped: the text up to the second
/// is formatted once a second per thread (chrono's formatting of all the fields was about 1 %
/// of the server's CPU under load) and only the milliseconds are written each time.
fn rfc3339_millis(at: chrono::DateTime<chrono::Utc>) -> String {
    use std::cell::RefCell;
    thread_local! {
        /// The second last formatted on this thread, and its text up to the `.`.
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let second = at.timestamp();
    // Past 999 only inside a leap second, which chrono writes as 60.xxx; keep chrono's text.
    let millis = at.timestamp_subsec_millis();
    if millis > 999 {
        return at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    }
    SECOND.with_borrow_mut(|(cached, prefix)| {
        if *cached != second {
            *prefix = at.format("%Y-%m-%dT%H:%M:%S").to_string();
            *cached = second;
        }
        let mut text = String::with_capacity(prefix.len() + 5);
        text.push_str(prefix);
        text.push('.');
        for digit in [millis / 100, millis / 10 % 10, millis % 10] {
            text.push(char::from(b'0' + digit as u8));
        }
        text.push('Z');
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_distinct_uuid_v7s_that_sort_by_time() {
        let first = new_message_id();
        let twin = new_message_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = new_message_id();
        for id in [&first, &twin, &later] {
            let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 7, "{id}");
        }
        assert_ne!(first, twin);
        assert!(
            later > first && later > twin,
            "{later} sorts after {first} and {twin}"
        );
    }

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        use chrono::{TimeZone, Utc};
        let mut at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 58).unwrap();
        // Millisecond steps across seconds, a minute, an hour, a day and a year, on one
        // thread (so the cached second is reused and replaced).
        for step in [0, 1, 7, 99, 100, 999, 1, 1, 997, 3_600_000, 86_400_000] {
            at += chrono::Duration::milliseconds(step);
            let expected = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            assert_eq!(rfc3339_millis(at), expected);
        }
        let now = now_rfc3339();
        assert!(chrono::DateTime::parse_from_rfc3339(&now).is_ok(), "{now}");
    }
}
