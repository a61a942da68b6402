//! The state every handler shares.

use crate::server::config::Settings;
use crate::server::diagnostics::Metrics;
use crate::server::hub::Hub;
use crate::server::store::Store;
use crate::server::writer::Writer;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub writer: Writer,
    /// Cancelled when the server starts shutting down; sockets close with 1001.
    pub shutdown: CancellationToken,
    pub metrics: Arc<Metrics>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
