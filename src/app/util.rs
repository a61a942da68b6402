//! Small browser helpers with server-side stand-ins: the clock, fresh `client_msg_id`s,
//! message time labels, waiting times and web storage. On the server (SSR) none of these is
//! reached at run time; the stand-ins only keep the crate compiling.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

/// A fresh id for a `send`: the time in milliseconds (12 hex digits), then 80 random bits (20 hex
/// digits). Time first, so one sender's ids arrive in order, and the server's index of them
/// (resends are found by sender and id) grows at its end instead of at a random page of a large
/// index. `crypto.getRandomValues` works on plain-http deployments too, unlike
/// `crypto.randomUUID`.
pub fn new_client_msg_id() -> String {
    time_ordered_id(now_ms() as u64, random_bytes())
}

fn time_ordered_id(ms: u64, random: [u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digit = |nibble: u64| char::from(HEX[(nibble & 15) as usize]);
    let mut id = String::with_capacity(32);
    id.extend((0..12).rev().map(|i| digit(ms >> (4 * i))));
    for &b in &random[..10] {
        id.extend([digit(u64::from(b) >> 4), digit(u64::from(b))]);
    }
    id
}

#[cfg(feature = "hydrate")]
fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        for b in bytes.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    bytes
}

#[cfg(not(feature = "hydrate"))]
fn random_bytes() -> [u8; 16] {
    [0; 16]
}

/// `"14:05"` (local time) and the day it belongs to (`"Today"`, `"Yesterday"` or a date), for a
/// server RFC 3339 time. Empty strings for a message not yet stored.
pub fn time_labels(sent_at: &str) -> (String, String) {
    if sent_at.is_empty() {
        return (String::new(), String::new());
    }
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(sent_at));
        if date.get_time().is_nan() {
            return (String::new(), String::new());
        }
        let time = format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
        let day = String::from(date.to_date_string());
        let today = js_sys::Date::new_0();
        let yesterday = js_sys::Date::new(&(today.get_time() - 86_400_000.0).into());
        let label = if today.to_date_string() == day {
            "Today".to_owned()
        } else if yesterday.to_date_string() == day {
            "Yesterday".to_owned()
        } else {
            day
        };
        (time, label)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        // "2026-11-23T10:00:00Z" → "10:00", "2026-11-23" (UTC).
        let time = sent_at.get(11..16).unwrap_or_default().to_owned();
        let day = sent_at.get(..10).unwrap_or_default().to_owned();
        (time, day)
    }
}

/// The first letter of a name, upper-cased, for avatars.
pub fn initial(name: &str) -> String {
    let Some(first) = name.chars().next() else {
        return String::new();
    };
    // In the browser, its own Unicode case mapping (the same rules as `char::to_uppercase`), so
    // the bundle does not carry Rust's case tables.
    #[cfg(feature = "hydrate")]
    {
        js_sys::JsString::from(first).to_upper_case().into()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        first.to_uppercase().collect()
    }
}

/// A stable hue (0–359) per name, so each person's avatar keeps its colour.
pub fn hue(name: &str) -> u32 {
    name.bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360
}

/// Milliseconds since the epoch of a server RFC 3339 time, if it parses.
pub fn parse_time_ms(rfc3339: &str) -> Option<f64> {
    #[cfg(feature = "hydrate")]
    {
        let ms = js_sys::Date::parse(rfc3339);
        (!ms.is_nan()).then_some(ms)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = rfc3339;
        None
    }
}

/// A waiting time for people: `"42s"`, `"3m 05s"`, `"2h 07m"`, `"3d 4h"`.
pub fn format_wait(ms: f64) -> String {
    let secs = (ms.max(0.0) / 1000.0).floor() as u64;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Which web storage to use: `Local` survives closing the browser, `Session` only reloads of
/// the same tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Local,
    Session,
}

#[cfg(feature = "hydrate")]
fn storage(store: Store) -> Option<web_sys::Storage> {
    let window = web_sys::window()?;
    match store {
        Store::Local => window.local_storage().ok().flatten(),
        Store::Session => window.session_storage().ok().flatten(),
    }
}

/// A value kept in web storage (`None` when absent, or storage is unavailable).
pub fn stored(store: Store, key: &str) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        storage(store)?.get_item(key).ok().flatten()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (store, key);
        None
    }
}

/// Keeps `value` under `key`, or removes the key for `None`. Storage errors (private mode,
/// quota) are ignored: these are conveniences.
pub fn store(store: Store, key: &str, value: Option<&str>) {
    #[cfg(feature = "hydrate")]
    if let Some(s) = storage(store) {
        let _ = match value {
            Some(v) => s.set_item(key, v),
            None => s.remove_item(key),
        };
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (store, key, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_short_and_readable() {
        assert_eq!(format_wait(-5.0), "0s");
        assert_eq!(format_wait(42_900.0), "42s");
        assert_eq!(format_wait(185_000.0), "3m 05s");
        assert_eq!(format_wait(2.0 * 3_600_000.0 + 7.0 * 60_000.0), "2h 07m");
        assert_eq!(format_wait(3.0 * 86_400_000.0 + 4.0 * 3_600_000.0), "3d 4h");
    }

    #[test]
    fn client_msg_ids_sort_by_time_and_fit_the_protocol_limit() {
        let earlier = time_ordered_id(1_765_000_000_000, [0xff; 16]);
        let later = time_ordered_id(1_765_000_000_001, [0x00; 16]);
        assert!(earlier < later, "{earlier} !< {later}");
        assert_eq!(earlier.len(), 32);
        assert!(crate::protocol::ClientMsgId::parse(&later).is_ok());
        // The random part tells apart two ids of the same millisecond.
        let (a, b) = (time_ordered_id(5, [1; 16]), time_ordered_id(5, [2; 16]));
        assert_ne!(a, b);
        assert!(a.starts_with("000000000005"));
        assert_eq!(
            time_ordered_id(0x0123_4567_89ab, [0xc5; 16]),
            format!("0123456789ab{}", "c5".repeat(10))
        );
    }
}
