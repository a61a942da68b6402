//! WebSocket endpoints: `GET /ws` (direct messages) and the per-socket loop.
//!
//! # Layout
//! - this file: the upgrade — session, origin and socket-cap checks happen before it.
//! - [`connection`]: the socket loop (frames in and out, ping, close), on a task of its own per
//!   socket ([`connection::spawn`]).
//! - `answers`: the socket's sends waiting for their commit, answered in order.
//! - `greeting`: a socket's first frames (hello and offline replay; a customer's history) and
//!   presence announcements.
//! - [`commands`]: one file per client frame type.

mod answers;
pub mod commands;
pub mod connection;
#[cfg(test)]
mod connection_tests;
pub mod greeting;
mod outbound;

use crate::protocol::limits::MAX_FRAME_BYTES;
use crate::server::auth::CurrentUser;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{header, HeaderMap};
use axum::response::Response;

/// `GET /ws`: upgrade for a signed-in user from an allowed origin.
#[tracing::instrument(skip_all, fields(user = %user.username))]
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    check_origin(&headers, &state.settings.allowed_origins)?;
    if state.hub.socket_count(&user.username) >= state.settings.max_sockets_per_user {
        tracing::info!("socket refused: per-user cap reached");
        return Err(ApiError::TooManySockets);
    }
    Ok(with_frame_limits(ws).on_upgrade(move |socket| async move {
        connection::spawn(socket, state, connection::Who::User(user.into()));
    }))
}

/// The transport's own size limit is a backstop at twice the contract's limit; frames between
/// the two are refused by the socket loop itself with a clean 1009 close. The read buffer is
/// small: it stays allocated for the socket's life, and chat frames are mostly a few hundred
/// bytes (bigger ones just take several reads); the default (128 KiB) would dominate the memory
/// of an idle socket. Those reads do not each reach the socket: the listener reads ahead 4 KiB
/// at a time (`server::read_ahead`).
pub fn with_frame_limits(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_FRAME_BYTES * 2)
        .max_frame_size(MAX_FRAME_BYTES * 2)
        .read_buffer_size(READ_BUFFER_BYTES)
}

const READ_BUFFER_BYTES: usize = 256;

/// A browser always sends `Origin` on a WebSocket handshake; it must be this site's (or one
/// configured). Non-browser clients that send none are allowed: they cannot ride a user's cookie.
pub fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| ApiError::BadOrigin)?;
    let ok = if allowed.is_empty() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        !host.is_empty()
            && (origin == format!("http://{host}") || origin == format!("https://{host}"))
    } else {
        allowed
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    };
    if ok {
        Ok(())
    } else {
        tracing::info!(origin, "socket refused: foreign origin");
        Err(ApiError::BadOrigin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn origin_must_match_host_by_default() {
        assert!(check_origin(&headers(None, "a:1"), &[]).is_ok());
        assert!(check_origin(&headers(Some("http://a:1"), "a:1"), &[]).is_ok());
        assert!(check_origin(&headers(Some("http://evil:1"), "a:1"), &[]).is_err());
    }

    #[test]
    fn configured_origins_replace_the_default() {
        let allowed = vec!["https://chat.example.com/".to_owned()];
        assert!(check_origin(&headers(Some("https://chat.example.com"), "x"), &allowed).is_ok());
        assert!(check_origin(&headers(Some("http://x"), "x"), &allowed).is_err());
    }
}
