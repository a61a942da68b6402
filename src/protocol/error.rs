//! Error codes shared by socket `error` frames and HTTP error bodies.

use super::wire_names::wire_names;
use serde::{Deserialize, Serialize};

/// A machine-readable error code. Socket errors use the first group (from the v1 contract);
/// HTTP errors may use any.
///
/// Read back through [`ErrorCode::parse`] (serde `try_from`) rather than a derived visitor; see
/// `protocol/wire_names.rs` for why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum ErrorCode {
    /// Not JSON, or JSON of the wrong shape.
    BadFrame,
    /// A frame whose `type` the server does not know.
    UnknownType,
    /// A message body that is empty after trimming.
    EmptyBody,
    /// A message body over the length limit.
    TooLarge,
    /// Sending to yourself.
    SelfMessage,
    /// Sending to a user that does not exist.
    UnknownUser,
    /// Too many frames too fast.
    RateLimited,
    /// Not allowed for this account or role.
    Forbidden,
    /// The conversation (or other object) does not exist.
    NotFound,
    /// Something broke on the server; nothing was accepted.
    Internal,
    // HTTP-only codes below.
    /// The request body or a field in it is invalid.
    InvalidInput,
    /// The username is already registered.
    UsernameTaken,
    /// Wrong username or password (never says which).
    InvalidCredentials,
    /// No valid session.
    Unauthorized,
    /// The `Origin` header is not this site's.
    BadOrigin,
    /// The user already holds the maximum number of sockets.
    TooManySockets,
    /// The server holds as many connections as it can; retry later (extension).
    Unavailable,
}

wire_names!(ErrorCode, "error code", {
    BadFrame => "bad_frame",
    UnknownType => "unknown_type",
    EmptyBody => "empty_body",
    TooLarge => "too_large",
    SelfMessage => "self_message",
    UnknownUser => "unknown_user",
    RateLimited => "rate_limited",
    Forbidden => "forbidden",
    NotFound => "not_found",
    Internal => "internal",
    InvalidInput => "invalid_input",
    UsernameTaken => "username_taken",
    InvalidCredentials => "invalid_credentials",
    Unauthorized => "unauthorized",
    BadOrigin => "bad_origin",
    TooManySockets => "too_many_sockets",
    Unavailable => "unavailable",
});

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every failed HTTP response: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ApiErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_serializes_as_its_wire_name() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
        assert!(serde_json::from_str::<ErrorCode>(r#""no_such_code""#).is_err());
    }

    #[test]
    fn all_lists_every_code_once_in_order() {
        // No wildcard arm: a new variant does not compile here until it is placed in `ALL`.
        let position = |code: ErrorCode| match code {
            ErrorCode::BadFrame => 0,
            ErrorCode::UnknownType => 1,
            ErrorCode::EmptyBody => 2,
            ErrorCode::TooLarge => 3,
            ErrorCode::SelfMessage => 4,
            ErrorCode::UnknownUser => 5,
            ErrorCode::RateLimited => 6,
            ErrorCode::Forbidden => 7,
            ErrorCode::NotFound => 8,
            ErrorCode::Internal => 9,
            ErrorCode::InvalidInput => 10,
            ErrorCode::UsernameTaken => 11,
            ErrorCode::InvalidCredentials => 12,
            ErrorCode::Unauthorized => 13,
            ErrorCode::BadOrigin => 14,
            ErrorCode::TooManySockets => 15,
            ErrorCode::Unavailable => 16,
        };
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(position(code), i, "{code}");
        }
    }

    #[test]
    fn unexpected_values_are_described_with_serdes_wording() {
        // vendor/serde_json writes these itself (see Cargo.toml's [patch]); floats keep
        // serde_json's own formatting.
        let message = |json: &str| {
            serde_json::from_str::<ApiErrorDetail>(json)
                .unwrap_err()
                .to_string()
        };
        let cases = [
            (r#"{"code":"internal","message":7}"#, "integer `7`"),
            (r#"{"code":"internal","message":-7}"#, "integer `-7`"),
            (r#"{"code":"internal","message":true}"#, "boolean `true`"),
            (
                r#"{"code":"internal","message":1.5}"#,
                "floating point `1.5`",
            ),
            (r#"{"code":"internal","message":null}"#, "null"),
            (r#"{"code":"internal","message":[]}"#, "sequence"),
            (r#"{"code":"internal","message":{}}"#, "map"),
            (
                r#"{"code":"x\"y","message":""}"#,
                r#"unknown error code `x"y`"#,
            ),
            (
                r#"{"code":7,"message":""}"#,
                "integer `7`, expected a string",
            ),
            (
                r#""text""#,
                r#"string "text", expected struct ApiErrorDetail"#,
            ),
        ];
        for (json, expected) in cases {
            let got = message(json);
            assert!(got.contains(expected), "{json}: {got}");
        }
    }

    #[test]
    fn api_error_body_has_the_contract_shape() {
        let body = ApiErrorBody::new(ErrorCode::UsernameTaken, "taken");
        let v: serde_json::Value = serde_json::to_value(&body).unwrap();
        assert_eq!(v["error"]["code"], "username_taken");
        assert_eq!(v["error"]["message"], "taken");
    }
}
