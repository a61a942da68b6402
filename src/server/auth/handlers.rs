//! `POST /api/register`, `POST /api/login`, `POST /api/logout`, `GET /api/me`.

use super::password;
use super::session::{new_token, removal_cookie, session_cookie, CurrentUser};
use crate::protocol::limits::{PASSWORD_MAX, PASSWORD_MIN};
use crate::protocol::{limits::close, Credentials, Me, Role, Username};
use crate::server::error::{parse_json, ApiError};
use crate::server::hub::CloseReason;
use crate::server::state::AppState;
use crate::server::store::StoreError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use tracing::instrument;

pub const LOGGED_OUT: CloseReason = CloseReason {
    code: close::POLICY,
    reason: "signed out",
};

#[instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    jar: CookieJar,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let creds: Credentials = parse_json(&body)?;
    let username =
        Username::parse(&creds.username).map_err(|e| ApiError::InvalidInput(e.message))?;
    check_password(&creds.password)?;
    let hash = password::hash(creds.password).await?;
    match state
        .store
        .create_user(username.as_str(), &hash, Role::User)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(ApiError::UsernameTaken),
        Err(e) => return Err(ApiError::Internal(e.into())),
    }
    tracing::info!(user = %username, "registered");
    let jar = start_session(&state, jar, username.as_str()).await?;
    Ok((
        StatusCode::CREATED,
        jar,
        Json(Me {
            username: username.into_string(),
            role: Role::User,
        }),
    ))
}

#[instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let creds: Credentials = parse_json(&body)?;
    // An invalid name cannot exist; still verify against the dummy hash to keep timing equal.
    let user = match Username::parse(&creds.username) {
        Ok(name) => state
            .store
            .find_user(name.as_str())
            .await
            .map_err(|e| ApiError::Internal(e.into()))?,
        Err(_) => None,
    };
    let password = if creds.password.chars().count() > PASSWORD_MAX {
        String::new()
    } else {
        creds.password
    };
    let ok = password::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!("login failed");
        return Err(ApiError::InvalidCredentials);
    };
    tracing::info!(user = %user.username, "signed in");
    let jar = start_session(&state, jar, &user.username).await?;
    Ok((
        jar,
        Json(Me {
            username: user.username,
            role: user.role,
        }),
    ))
}

#[instrument(skip_all, fields(user = %user.username))]
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    state
        .store
        .revoke_session(&user.session_hash)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    state.hub.close_session(&user.session_hash, LOGGED_OUT);
    tracing::info!("signed out");
    Ok((StatusCode::NO_CONTENT, jar.remove(removal_cookie())))
}

pub async fn me(user: CurrentUser) -> Json<Me> {
    Json(Me {
        username: user.username,
        role: user.role,
    })
}

fn check_password(password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if len < PASSWORD_MIN {
        return Err(ApiError::InvalidInput(format!(
            "a password has at least {PASSWORD_MIN} characters"
        )));
    }
    if len > PASSWORD_MAX {
        return Err(ApiError::InvalidInput(format!(
            "a password has at most {PASSWORD_MAX} characters"
        )));
    }
    Ok(())
}

async fn start_session(
    state: &AppState,
    jar: CookieJar,
    username: &str,
) -> Result<CookieJar, ApiError> {
    let (token, hash) = new_token();
    let ttl_ms = (state.settings.session_ttl_hours as i64).saturating_mul(3_600_000);
    let expires = chrono::Utc::now().timestamp_millis().saturating_add(ttl_ms);
    state
        .store
        .create_session(&hash, username, expires)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(jar.add(session_cookie(
        token,
        state.settings.session_ttl_hours,
        state.settings.cookie_secure,
    )))
}
