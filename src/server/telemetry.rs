//! Logging with `tracing`. `RUST_LOG` sets the level; message bodies and secrets are never logged.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let _ = fmt().with_env_filter(filter).with_target(true).try_init();
}
