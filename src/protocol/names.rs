//! Validated newtypes. Each is parsed once, where input enters, and is valid from then on.

use super::error::ErrorCode;
use super::limits::{CLIENT_MSG_ID_MAX, MAX_BODY_CHARS, USERNAME_MAX, USERNAME_MIN};
use serde::{Deserialize, Serialize};

/// Why a value did not parse: the error code to report and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub code: ErrorCode,
    pub message: String,
}

impl Invalid {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The one non-ASCII character whose lowercase form is ASCII (`k`).
const KELVIN_SIGN: char = '\u{212A}';
/// The one character whose lowercase form is two characters (`i` and a combining dot above).
const DOTTED_CAPITAL_I: char = '\u{130}';

/// A username: 3–32 characters of `a-z 0-9 _ . -`, case-insensitive, kept lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Trims, lowercases and checks a username.
    ///
    /// The outcome is exactly that of checking `raw.trim().to_lowercase()`, without linking
    /// `to_lowercase`'s Unicode tables into the browser bundle: only ASCII names are valid, and of
    /// all non-ASCII characters only the Kelvin sign lowercases to ASCII (`k`) and only `İ`
    /// (U+0130) lowercases to two characters (which counts for the length check). Any other
    /// non-ASCII character stays non-ASCII and fails the check either way.
    /// `lowercasing_matches_to_lowercase` below checks these facts over every `char`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let len: usize = trimmed
            .chars()
            .map(|c| if c == DOTTED_CAPITAL_I { 2 } else { 1 })
            .sum();
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
            return Err(Invalid::new(
                ErrorCode::InvalidInput,
                format!("a username has {USERNAME_MIN} to {USERNAME_MAX} characters"),
            ));
        }
        let name: String = trimmed
            .chars()
            .map(|c| {
                if c == KELVIN_SIGN {
                    'k'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        {
            return Err(Invalid::new(
                ErrorCode::InvalidInput,
                "a username may only hold letters a-z, digits and _ . -",
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A message body: 1–4000 characters after trimming surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let body = raw.trim();
        if body.is_empty() {
            return Err(Invalid::new(
                ErrorCode::EmptyBody,
                "a message needs some text",
            ));
        }
        // Cheap byte test first: a body this short in bytes cannot be too long in chars.
        if body.len() > MAX_BODY_CHARS && body.chars().count() > MAX_BODY_CHARS {
            return Err(Invalid::new(
                ErrorCode::TooLarge,
                format!("a message holds at most {MAX_BODY_CHARS} characters"),
            ));
        }
        Ok(Self(body.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The sender's own id for a message, used to make resends idempotent: 1–64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientMsgId(String);

impl ClientMsgId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > CLIENT_MSG_ID_MAX {
            return Err(Invalid::new(
                ErrorCode::BadFrame,
                format!("client_msg_id must be 1 to {CLIENT_MSG_ID_MAX} bytes"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_is_lowercased_and_trimmed() {
        assert_eq!(Username::parse("  Alice_1 ").unwrap().as_str(), "alice_1");
    }

    #[test]
    fn username_rejects_bad_length_and_characters() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse("bob.smith-2").is_ok());
    }

    /// `Username::parse` as it reads with `to_lowercase`.
    fn parse_with_to_lowercase(raw: &str) -> Result<Username, Invalid> {
        let name = raw.trim().to_lowercase();
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&name.chars().count()) {
            return Err(Invalid::new(
                ErrorCode::InvalidInput,
                format!("a username has {USERNAME_MIN} to {USERNAME_MAX} characters"),
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        {
            return Err(Invalid::new(
                ErrorCode::InvalidInput,
                "a username may only hold letters a-z, digits and _ . -",
            ));
        }
        Ok(Username(name))
    }

    #[test]
    fn lowercasing_matches_to_lowercase() {
        let long = "a".repeat(USERNAME_MAX - 1);
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            for name in [format!("Ab{c}"), format!("{long}{c}")] {
                assert_eq!(
                    Username::parse(&name),
                    parse_with_to_lowercase(&name),
                    "{c:?}"
                );
            }
        }
        assert_eq!(Username::parse("\u{212A}im").unwrap().as_str(), "kim");
    }

    #[test]
    fn body_is_trimmed_and_bounded() {
        assert_eq!(MessageBody::parse("  hi \n").unwrap().as_str(), "hi");
        assert_eq!(
            MessageBody::parse(" \n\t ").unwrap_err().code,
            ErrorCode::EmptyBody
        );
        assert!(MessageBody::parse(&"é".repeat(MAX_BODY_CHARS)).is_ok());
        assert_eq!(
            MessageBody::parse(&"x".repeat(MAX_BODY_CHARS + 1))
                .unwrap_err()
                .code,
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn client_msg_id_is_bounded() {
        assert!(ClientMsgId::parse("").is_err());
        assert!(ClientMsgId::parse(&"x".repeat(65)).is_err());
        assert!(ClientMsgId::parse("abc-123").is_ok());
    }
}
