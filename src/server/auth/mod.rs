//! Accounts and sessions: password hashing, session tokens and cookies, the session extractor,
//! and the account HTTP handlers.

pub mod handlers;
pub mod password;
pub mod session;

pub use session::{CurrentUser, SESSION_COOKIE};
