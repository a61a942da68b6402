//! Configuration: every setting is a flag with an environment variable behind it.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings of a running server.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on (the cargo-leptos convention).
    #[arg(
        long = "addr",
        env = "LEPTOS_SITE_ADDR",
        default_value = "127.0.0.1:3000"
    )]
    pub addr: SocketAddr,

    /// Database URL: `sqlite://path` (created if missing) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/confab.db")]
    pub database_url: String,

    /// Origins allowed to open sockets, e.g. `https://chat.example.com` (repeat or comma-separate).
    /// Default: the site's own origin, i.e. the `Host` the browser used.
    #[arg(
        long = "allowed-origin",
        env = "CONFAB_ALLOWED_ORIGIN",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Folder holding the built site (wasm, js, css, public files).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Name of the wasm/js/css bundle inside the site's pkg folder.
    #[arg(long, env = "LEPTOS_OUTPUT_NAME", default_value = "confab")]
    pub output_name: String,

    /// Mark cookies `Secure` (set this when serving over HTTPS).
    #[arg(long, env = "CONFAB_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,

    /// How long a session lasts, in hours.
    #[arg(long, env = "CONFAB_SESSION_TTL_HOURS", default_value_t = 24 * 30)]
    pub session_ttl_hours: u64,

    /// Most sockets one user may hold at once.
    #[arg(long, env = "CONFAB_MAX_SOCKETS_PER_USER", default_value_t = 16)]
    pub max_sockets_per_user: usize,

    /// Frames per second a socket may send, sustained.
    #[arg(long, env = "CONFAB_RATE_PER_SEC", default_value_t = 20)]
    pub rate_per_sec: u32,

    /// Frames a socket may send in a burst.
    #[arg(long, env = "CONFAB_RATE_BURST", default_value_t = 40)]
    pub rate_burst: u32,

    /// Seconds between server pings.
    #[arg(long, env = "CONFAB_PING_INTERVAL_SECS", default_value_t = 30)]
    pub ping_interval_secs: u64,

    /// Seconds without any frame from the client before the socket is closed.
    #[arg(long, env = "CONFAB_IDLE_TIMEOUT_SECS", default_value_t = 90)]
    pub idle_timeout_secs: u64,

    /// Frames queued for one socket before it counts as a slow consumer and is closed.
    #[arg(long, env = "CONFAB_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,

    /// Open support chats one agent is given automatically (manual claims may exceed it).
    #[arg(long, env = "CONFAB_MAX_CHATS_PER_AGENT", default_value_t = 5)]
    pub max_chats_per_agent: usize,

    /// Most TCP connections held at once; more are answered 503 and closed. Default (and upper
    /// bound): the open-file limit minus a reserve.
    #[arg(long, env = "CONFAB_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Redis for fan-out between nodes, e.g. `redis://127.0.0.1:6379/`. Unset: a single node.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Redis pub/sub channel of this cluster (nodes of one cluster share it).
    #[arg(long, env = "CONFAB_REDIS_CHANNEL", default_value = "confab:bus")]
    pub redis_channel: String,

    /// This node's name on the bus (default: random per start).
    #[arg(long, env = "CONFAB_NODE_ID")]
    pub node_id: Option<String>,

    /// A node not heard from for this long stops counting (its users go offline), in ms.
    /// Nodes send a heartbeat every third of it.
    #[arg(long, env = "CONFAB_NODE_TTL_MS", default_value_t = 6000)]
    pub node_ttl_ms: u64,

    /// Most writes the writer commits in one transaction.
    #[arg(long, env = "CONFAB_MAX_BATCH", default_value_t = 512)]
    pub max_batch: usize,

    /// Threads that serve sockets and requests. Default: one per CPU core (tokio's own default);
    /// the store's threads (log, sync, indexer, checkpoints) share the cores with them.
    #[arg(long, env = "CONFAB_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
}

impl Settings {
    /// Settings for a test server: a random port on loopback and the given database.
    pub fn for_tests(database_url: String) -> Self {
        Self {
            addr: "127.0.0.1:0".parse().expect("literal address"),
            database_url,
            allowed_origins: Vec::new(),
            site_root: PathBuf::from("target/site"),
            output_name: "confab".into(),
            cookie_secure: false,
            session_ttl_hours: 24,
            max_sockets_per_user: 16,
            rate_per_sec: 20,
            rate_burst: 40,
            ping_interval_secs: 30,
            idle_timeout_secs: 90,
            outbound_queue: 1024,
            max_batch: 512,
            max_chats_per_agent: 5,
            max_connections: None,
            redis_url: None,
            redis_channel: "confab:bus".into(),
            node_id: None,
            node_ttl_ms: 6000,
            worker_threads: None,
        }
    }

    /// How many threads serve sockets: see [`Settings::worker_threads`].
    pub fn worker_threads(&self) -> usize {
        self.worker_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |cores| cores.get()))
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::Settings;

    #[test]
    fn worker_threads_are_one_per_core_when_not_set() {
        let settings = Settings::for_tests("sqlite::memory:".into());
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(settings.worker_threads(), cores);
    }

    #[test]
    fn worker_threads_are_taken_as_set_and_zero_as_one() {
        let mut settings = Settings::for_tests("sqlite::memory:".into());
        settings.worker_threads = Some(0);
        assert_eq!(settings.worker_threads(), 1);
        settings.worker_threads = Some(3);
        assert_eq!(settings.worker_threads(), 3);
    }
}
