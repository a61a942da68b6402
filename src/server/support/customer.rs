//! The customer's identity and socket. A customer has no account: `POST /api/support/start`
//! gives the browser a random secret in an HttpOnly cookie, and that secret — never an id in
//! the URL — is what reaches the conversation.

use crate::protocol::limits::CUSTOMER_NAME_MAX;
use crate::protocol::{SupportStart, SupportStarted};
use crate::server::auth::session::{hash_token, new_token};
use crate::server::error::{parse_json, ApiError};
use crate::server::hub::customer_key;
use crate::server::state::AppState;
use crate::server::ws::connection::{self, Customer, Who};
use crate::server::ws::{check_origin, with_frame_limits};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use std::sync::Arc;

pub const SUPPORT_COOKIE: &str = "confab_support";
/// How long a customer's browser keeps its conversation.
const COOKIE_DAYS: i64 = 90;
const DEFAULT_NAME: &str = "Customer";

/// `POST /api/support/start {"name"?}`: the browser's conversation, created on first call.
#[tracing::instrument(skip_all)]
pub async fn start(
    State(state): State<AppState>,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: SupportStart = if body.iter().all(u8::is_ascii_whitespace) {
        SupportStart::default()
    } else {
        parse_json(&body)?
    };
    let name = clean_name(request.name.as_deref())?;
    if let Some(existing) = customer_from_jar(&state, &jar).await? {
        if let Some(name) = name.filter(|n| n != &existing.name) {
            state
                .store
                .rename_customer(&existing.conversation_id, &name)
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
        }
        let body = SupportStarted {
            conversation_id: existing.conversation_id,
        };
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    let (secret, secret_hash) = new_token();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let name = name.unwrap_or_else(|| DEFAULT_NAME.to_owned());
    state
        .store
        .create_support_conversation(&id, &secret_hash, &name)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    tracing::info!(conversation = %id, "support conversation started");
    let cookie = Cookie::build((SUPPORT_COOKIE, secret))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.cookie_secure)
        .path("/")
        .max_age(cookie::time::Duration::days(COOKIE_DAYS))
        .build();
    let body = SupportStarted {
        conversation_id: id,
    };
    Ok((StatusCode::CREATED, jar.add(cookie), Json(body)).into_response())
}

/// Trims the display name; control characters are dropped.
fn clean_name(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let name: String = raw.trim().chars().filter(|c| !c.is_control()).collect();
    if name.chars().count() > CUSTOMER_NAME_MAX {
        return Err(ApiError::InvalidInput(format!(
            "a name has at most {CUSTOMER_NAME_MAX} characters"
        )));
    }
    Ok((!name.is_empty()).then_some(name))
}

async fn customer_from_jar(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<Customer>, ApiError> {
    let Some(secret) = jar.get(SUPPORT_COOKIE) else {
        return Ok(None);
    };
    let hash = hash_token(secret.value());
    let conversation = state
        .store
        .support_by_secret(&hash)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(conversation.map(|c| Customer {
        conversation_id: c.id,
        name: c.customer_name,
        secret_hash: Arc::from(hash),
    }))
}

/// The support customer of a request, from their cookie.
pub struct CustomerSession(pub Customer);

impl FromRequestParts<AppState> for CustomerSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let jar = CookieJar::from_headers(&parts.headers);
        customer_from_jar(state, &jar)
            .await?
            .map(CustomerSession)
            .ok_or(ApiError::Unauthorized)
    }
}

/// `GET /ws/support`: the customer's socket.
#[tracing::instrument(skip_all)]
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    CustomerSession(customer): CustomerSession,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    check_origin(&headers, &state.settings.allowed_origins)?;
    let key = customer_key(&customer.conversation_id);
    if state.hub.socket_count(&key) >= state.settings.max_sockets_per_user {
        return Err(ApiError::TooManySockets);
    }
    Ok(with_frame_limits(ws).on_upgrade(move |socket| async move {
        connection::spawn(socket, state, Who::Customer(customer.into()));
    }))
}
