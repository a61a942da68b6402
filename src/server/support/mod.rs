//! Customer support: a customer (no account) chats one-to-one with an agent.
//!
//! # Layout
//! - [`customer`]: `POST /api/support/start` (the customer's cookie identity) and
//!   `GET /ws/support` (the customer's socket).
//! - [`fanout`]: what follows a committed support write — frames to the customer and to the
//!   agents, and automatic assignment to the least-busy available agent.
//! - [`console_guard`]: `GET /agent` answers 403 to signed-in accounts that are not agents.
//! - [`transcript`]: `GET /api/support/conversations/{id}/transcript` for agents.
//!
//! Agent frames (`queue`, `open`, `claim`, …) are commands in `ws::commands`.

pub mod console_guard;
pub mod customer;
pub mod fanout;
pub mod transcript;
