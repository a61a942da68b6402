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

/// A username: 3–32 characters of `a-z 0-9 _ . -`, case-insensitive, kept lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Trims, lowercases and checks a username. Letters are ASCII only, so case folding is
    /// ASCII too: a look-alike such as the Kelvin sign `K` (which Unicode lowercases to `k`) is
    /// refused rather than folded into someone else's name, and the browser bundle carries no
    /// Unicode case tables.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim().to_ascii_lowercase();
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
        Self::checked(raw).map(|body| Self(body.to_owned()))
    }

    /// Like [`parse`](Self::parse), keeping `raw`'s buffer when there is nothing to trim.
    pub fn parse_owned(raw: String) -> Result<Self, Invalid> {
        let body = Self::checked(&raw)?;
        Ok(Self(if body.len() == raw.len() {
            raw
        } else {
            body.to_owned()
        }))
    }

    /// The trimmed body, if it is a valid one.
    fn checked(raw: &str) -> Result<&str, Invalid> {
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
        Ok(body)
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
        Self::parse_owned(raw.to_owned())
    }

    /// Like [`parse`](Self::parse), keeping `raw`'s buffer.
    pub fn parse_owned(raw: String) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > CLIENT_MSG_ID_MAX {
            return Err(Invalid::new(
                ErrorCode::BadFrame,
                format!("client_msg_id must be 1 to {CLIENT_MSG_ID_MAX} bytes"),
            ));
        }
        Ok(Self(raw))
    }

    pub fn into_string(self) -> String {
        self.0
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

    #[test]
    fn username_refuses_non_ascii_look_alikes_instead_of_folding_them() {
        // U+212A KELVIN SIGN lowercases to an ASCII `k` under Unicode rules.
        let kelvin = Username::parse("\u{212A}im").unwrap_err();
        assert_eq!(kelvin.code, ErrorCode::InvalidInput);
        assert!(
            Username::parse("\u{130}stanbul").is_err(),
            "dotted capital I"
        );
        assert!(Username::parse("bj\u{F6}rn").is_err());
        assert_eq!(Username::parse("  KiM_2 ").unwrap().as_str(), "kim_2");
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
    fn owned_parses_agree_with_borrowed_ones() {
        for raw in ["hi", "  hi \n", " \n", "x"] {
            assert_eq!(
                MessageBody::parse_owned(raw.into()),
                MessageBody::parse(raw)
            );
            assert_eq!(
                ClientMsgId::parse_owned(raw.into()),
                ClientMsgId::parse(raw)
            );
        }
    }

    #[test]
    fn client_msg_id_is_bounded() {
        assert!(ClientMsgId::parse("").is_err());
        assert!(ClientMsgId::parse(&"x".repeat(65)).is_err());
        assert!(ClientMsgId::parse("abc-123").is_ok());
    }
}
