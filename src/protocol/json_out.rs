//! Writing the two frames every message costs — its `message` frame and the sender's
//! `accepted` — without serde's per-byte string escaping.
//!
//! serde_json looks up every byte of every string in a table to find the ones to escape; on the
//! server that was about 2.4 % of the CPU under load, for strings that almost never hold one
//! (ids, usernames and times never do; chat lines rarely). Here a string is checked eight bytes
//! at a time and copied as it is when nothing in it needs escaping; a string that does is
//! escaped by serde_json as before. The output is byte for byte what the derived `Serialize`
//! writes (tests compare the two).

/// Builds one JSON object, field by field, in the order the fields are added.
pub(crate) struct JsonObject {
    text: String,
}

impl JsonObject {
    /// An object whose first field is `"type":<kind>`.
    pub(crate) fn tagged(kind: &str, capacity: usize) -> Self {
        let mut text = String::with_capacity(capacity);
        text.push_str("{\"type\":");
        push_str(&mut text, kind);
        Self { text }
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_str(&mut self.text, value);
        self
    }

    /// A string field, left out when `None` (as `skip_serializing_if = "Option::is_none"`).
    pub(crate) fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.str(key, value);
        }
        self
    }

    pub(crate) fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        self.text.push_str(itoa::Buffer::new().format(value));
        self
    }

    pub(crate) fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.text.push_str(if value { "true" } else { "false" });
        self
    }

    /// The rest of the fields as they are in `rest`: the inside of another object, without its
    /// opening brace (`"a":1,"b":2}`).
    pub(crate) fn rest_of(mut self, rest: &str) -> String {
        self.text.push(',');
        self.text.push_str(rest);
        self.text
    }

    pub(crate) fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }

    fn key(&mut self, key: &str) {
        self.text.push(',');
        push_str(&mut self.text, key);
        self.text.push(':');
    }
}

/// Appends `value` as a JSON string, escaped as serde_json escapes it.
pub(crate) fn push_str(out: &mut String, value: &str) {
    if needs_escape(value.as_bytes()) {
        // Rare: let serde_json do the escaping. Serializing a &str cannot fail.
        out.push_str(&serde_json::to_string(value).unwrap_or_default());
    } else {
        out.reserve(value.len() + 2);
        out.push('"');
        out.push_str(value);
        out.push('"');
    }
}

/// Whether any byte is one serde_json escapes: a control character (below 0x20), `"` or `\`.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Exact for "is there such a byte" (not for which one): a byte's high bit is set in
    // `(w - n·ONES) & !w` only if some byte is below n (n ≤ 128), borrows included.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * n as u64) & !w & HIGHS != 0;
    let holds = |w: u64, b: u8| below(w ^ (ONES * b as u64), 1);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_ne_bytes(word);
        if below(w, 0x20) || holds(w, b'"') || holds(w, b'\\') {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(value: &str) -> String {
        let mut out = String::new();
        push_str(&mut out, value);
        out
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut cases: Vec<String> = vec![
            String::new(),
            "a".into(),
            "0190b2c4-5d6e-7f80-9a1b-2c3d4e5f6071".into(),
            "2026-12-07T01:07:18.123Z".into(),
            "héllo wörld, 你好 🎉 and a long enough line to span several words".into(),
            "\u{7f} is not escaped, nor is /".into(),
        ];
        // Every byte that needs escaping, at every position of a 17-byte string (two words
        // and a remainder), and every ASCII byte once.
        for special in ['"', '\\', '\n', '\t', '\u{0}', '\u{1f}', '\u{8}'] {
            for at in 0..17 {
                let mut s: Vec<char> = "abcdefghijklmnopq".chars().collect();
                s[at] = special;
                cases.push(s.into_iter().collect());
            }
        }
        cases.push((0u8..128).map(char::from).collect());
        for case in &cases {
            assert_eq!(
                written(case),
                serde_json::to_string(case).unwrap(),
                "{case:?}"
            );
        }
    }

    #[test]
    fn objects_hold_their_fields_in_order() {
        let mut object = JsonObject::tagged("accepted", 64);
        object
            .str("id", "x\"y")
            .u64("seq", 0)
            .u64("big", u64::MAX)
            .bool("delivered", false)
            .opt_str("peer", None)
            .opt_str("sent_at", Some("t"));
        let text = object.finish();
        assert_eq!(
            text,
            r#"{"type":"accepted","id":"x\"y","seq":0,"big":18446744073709551615,"delivered":false,"sent_at":"t"}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["big"], u64::MAX);
    }
}
