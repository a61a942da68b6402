//! Building the router ([`app`]) and running the server ([`RunningApp`]).

use crate::app::{shell, App};
use crate::server::config::Settings;
use crate::server::diagnostics::{self, Metrics};
use crate::server::hub::Hub;
use crate::server::listener::{self, CappedListener};
use crate::server::state::AppState;
use crate::server::writer::Writer;
use crate::server::{auth, cluster, store, support, ws};
use anyhow::Context;
use axum::routing::{get, post};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

/// The whole HTTP surface: API, sockets, diagnostics, and the Leptos pages and assets.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .route("/api/register", post(auth::handlers::register))
        .route("/api/login", post(auth::handlers::login))
        .route("/api/logout", post(auth::handlers::logout))
        .route("/api/me", get(auth::handlers::me))
        .route("/ws", get(ws::upgrade))
        .route("/api/support/start", post(support::customer::start))
        .route("/ws/support", get(support::customer::upgrade))
        .route(
            "/api/support/conversations/{id}/transcript",
            get(support::transcript::download),
        )
        .route("/ws/echo", get(diagnostics::echo))
        .route("/healthz", get(diagnostics::healthz))
        .route("/readyz", get(diagnostics::readyz))
        .route("/metrics", get(diagnostics::metrics))
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            support::console_guard::guard,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A server that is listening, and the handles to stop it cleanly.
pub struct RunningApp {
    addr: SocketAddr,
    state: AppState,
    server: JoinHandle<std::io::Result<()>>,
    writer_task: JoinHandle<()>,
    /// The bus tasks (several nodes only), stopped last.
    cluster: Cluster,
}

/// The running bus tasks of a clustered node.
pub struct Cluster {
    tasks: Vec<JoinHandle<()>>,
    stop: CancellationToken,
}

impl RunningApp {
    /// Opens the store, starts the writer, binds and starts serving.
    pub async fn start(settings: Settings) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        let addr = listener.local_addr()?;
        let (state, writer_task, cluster) = build_state(settings, addr).await?;
        let router = app(state.clone());
        let shutdown = state.shutdown.clone();
        let cap = listener::connection_cap(state.settings.max_connections);
        tracing::info!(max_connections = cap, "connection cap");
        let listener = CappedListener::new(listener, cap, state.metrics.connections.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        });
        tracing::info!(%addr, "listening on http://{addr}");
        Ok(Self {
            addr,
            state,
            server,
            writer_task,
            cluster,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Graceful stop: refuse new connections, close sockets with 1001, commit every write
    /// already submitted, close the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.state.shutdown.cancel();
        // Sockets see the cancellation and close themselves; give them a moment to finish.
        for _ in 0..100 {
            if self.state.hub.total_sockets() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match tokio::time::timeout(Duration::from_secs(10), self.server).await {
            Ok(joined) => joined.context("server task")?.context("server")?,
            Err(_) => tracing::warn!("connections still open after 10 s; stopping anyway"),
        }
        self.state.writer.stop().await;
        let _ = self.writer_task.await;
        cluster::node::leave(&self.state);
        self.cluster.stop.cancel();
        for task in self.cluster.tasks {
            let _ = task.await;
        }
        self.state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }

    /// Serves until Ctrl-C or SIGTERM, then stops gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.stop().await
    }
}

/// Opens the store, starts the writer and (with `REDIS_URL`) the bus: everything a handler
/// needs, without a listener.
pub async fn build_state(
    settings: Settings,
    addr: SocketAddr,
) -> anyhow::Result<(AppState, JoinHandle<()>, Cluster)> {
    let store = store::connect(&settings.database_url)
        .await
        .with_context(|| format!("opening the database {}", settings.database_url))?;
    let pending = cluster::configure(&settings)?;
    let hub = Arc::new(match &pending {
        Some(p) => Hub::with_bus(settings.outbound_queue, p.bus.clone()),
        None => Hub::new(settings.outbound_queue),
    });
    let (writer, writer_task) = Writer::spawn(
        store.clone(),
        hub.clone(),
        settings.max_batch,
        settings.max_chats_per_agent,
    );
    let state = AppState {
        leptos_options: leptos_options(&settings, addr),
        settings: Arc::new(settings),
        store,
        hub,
        writer,
        shutdown: CancellationToken::new(),
        metrics: Arc::new(Metrics::default()),
    };
    let stop = CancellationToken::new();
    let tasks = match pending {
        Some(pending) => {
            tracing::info!(node = %pending.bus.node, "joining the cluster through Redis");
            cluster::node::spawn(&state, pending, stop.clone())
        }
        None => Vec::new(),
    };
    Ok((state, writer_task, Cluster { tasks, stop }))
}

fn leptos_options(settings: &Settings, addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(settings.output_name.as_str())
        .site_root(settings.site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
