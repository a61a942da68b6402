//! The wire contract (v1), compiled into both the server and the browser client.
//!
//! Every type that crosses the network lives here: WebSocket frames in both directions, the JSON
//! bodies of the HTTP API, limits and error codes. There is deliberately no `cfg` in this module:
//! the server and the WASM client must agree byte for byte, so there is exactly one copy.
//!
//! # Layout
//! - [`limits`]: numeric limits of the contract (body length, frame size, page size, …).
//! - [`error`]: [`ErrorCode`] and the HTTP error body.
//! - [`names`]: validated newtypes ([`Username`], [`MessageBody`], [`ClientMsgId`]), parsed once at
//!   the boundary with `parse()`.
//! - [`client`]: frames the client sends ([`ClientFrame`]), with [`ClientFrame::parse`] turning any
//!   text into either a frame or a typed error.
//! - [`server`]: frames the server sends ([`ServerFrame`]), one struct per variant, and
//!   [`ServerFrame::from_json`], the client's decoder.
//! - [`records`]: the records inside server frames ([`Message`], [`ConversationSummary`], …).
//! - [`http`]: request and response bodies of the account API.
//! - `json_out`: the frames sent for every message (`message`, `accepted`) written without
//!   serde's per-byte string escaping, byte for byte as serde writes them.
//! - `wire_names`: the names, `parse` and `try_from` of the enums sent as one word (roles,
//!   receipt kinds, error codes), written once by a macro.

pub mod client;
pub mod error;
pub mod http;
mod json_out;
pub mod limits;
pub mod names;
pub mod records;
pub mod server;
mod wire_names;

pub use client::{ClientFrame, FrameError};
pub use error::{ApiErrorBody, ErrorCode};
pub use http::{Credentials, Me, Role, SupportStart, SupportStarted};
pub use names::{ClientMsgId, MessageBody, Username};
pub use records::{ConversationSummary, FromRole, Message, QueueEntry, ReceiptKind};
pub use server::ServerFrame;
