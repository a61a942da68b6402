//! `GET /agent` for a signed-in account without the agent role answers 403 Forbidden (the page
//! itself explains why). Agents get the console; signed-out visitors get the page, which sends
//! them to sign in.

use crate::server::auth::CurrentUser;
use crate::server::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

pub const CONSOLE_PATH: &str = "/agent";

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.uri().path() != CONSOLE_PATH {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let user = CurrentUser::from_request_parts(&mut parts, &state)
        .await
        .ok();
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if user.is_some_and(|u| !u.role.is_agent()) {
        *response.status_mut() = StatusCode::FORBIDDEN;
    }
    response
}
