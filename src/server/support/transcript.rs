//! `GET /api/support/conversations/{id}/transcript?format=text|json`: the whole conversation,
//! for agents.

use crate::protocol::Message;
use crate::server::auth::CurrentUser;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct TranscriptQuery {
    #[serde(default)]
    format: Option<String>,
}

#[derive(Debug, Serialize)]
struct Transcript {
    conversation_id: String,
    customer: String,
    status: String,
    assignee: Option<String>,
    created_at: String,
    messages: Vec<Message>,
}

const CHUNK: u32 = 1000;

#[tracing::instrument(skip_all, fields(agent = %user.username))]
pub async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(query): Query<TranscriptQuery>,
) -> Result<Response, ApiError> {
    if !user.role.is_agent() {
        return Err(ApiError::Forbidden(
            "only support agents may read transcripts".into(),
        ));
    }
    let internal = |e: crate::server::store::StoreError| ApiError::Internal(e.into());
    let conversation = state
        .store
        .support_by_id(&id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::NotFound(format!("no support conversation {id:?}")))?;
    let mut messages = Vec::new();
    let mut after = 0;
    loop {
        let chunk = state
            .store
            .support_messages_after(&id, after, CHUNK)
            .await
            .map_err(internal)?;
        let done = chunk.len() < CHUNK as usize;
        for m in chunk {
            after = m.seq;
            messages.push(m.to_wire(&conversation.customer_name));
        }
        if done {
            break;
        }
    }
    let filename = format!("transcript-{id}");
    match query.format.as_deref().unwrap_or("text") {
        "json" => Ok((
            [(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}.json\""),
            )],
            Json(Transcript {
                conversation_id: conversation.id,
                customer: conversation.customer_name,
                status: conversation.status.as_str().to_owned(),
                assignee: conversation.assignee,
                created_at: conversation.created_at,
                messages,
            }),
        )
            .into_response()),
        "text" | "txt" => {
            let mut text = format!(
                "Support conversation {} with {} (started {})\n\n",
                conversation.id, conversation.customer_name, conversation.created_at
            );
            for m in &messages {
                let role = match m.from_role {
                    Some(crate::protocol::FromRole::Agent) => "agent",
                    _ => "customer",
                };
                text.push_str(&format!(
                    "[{}] {} ({role}): {}\n",
                    m.sent_at, m.from, m.body
                ));
            }
            Ok((
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{filename}.txt\""),
                    ),
                ],
                text,
            )
                .into_response())
        }
        other => Err(ApiError::InvalidInput(format!(
            "unknown format {other:?}: use text or json"
        ))),
    }
}
