//! JSON bodies of the HTTP API.

use super::wire_names::wire_names;
use serde::{Deserialize, Serialize};

/// Account roles. Agents and admins are created from the CLI. Read back through [`Role::parse`]
/// (serde `try_from`), like [`ErrorCode`](super::ErrorCode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum Role {
    User,
    Agent,
    Admin,
}

wire_names!(Role, "role", {
    User => "user",
    Agent => "agent",
    Admin => "admin",
});

impl Role {
    /// Whether this role may use the agent console.
    pub fn is_agent(self) -> bool {
        matches!(self, Role::Agent | Role::Admin)
    }
}

/// `POST /api/register` and `POST /api/login` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Who is signed in: the answer of register, login and `GET /api/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub username: String,
    pub role: Role,
}

/// `POST /api/support/start` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportStart {
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/support/start` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportStarted {
    pub conversation_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn me_round_trips_with_snake_case_role() {
        let me = Me {
            username: "ann".into(),
            role: Role::Agent,
        };
        let text = serde_json::to_string(&me).unwrap();
        assert_eq!(text, r#"{"username":"ann","role":"agent"}"#);
        assert_eq!(serde_json::from_str::<Me>(&text).unwrap(), me);
    }

    #[test]
    fn role_parses_its_own_names() {
        for role in [Role::User, Role::Agent, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(serde_json::from_str::<Me>(r#"{"username":"ann","role":"root"}"#).is_err());
    }
}
