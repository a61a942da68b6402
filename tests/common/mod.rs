//! Shared helpers for the integration tests: a real server on a fresh database, HTTP account
//! helpers, and a WebSocket client that waits for frames by type instead of assuming an order.
//!
//! The database is a temporary SQLite file, or, when `CONFAB_TEST_POSTGRES_URL` names a
//! PostgreSQL server (`scripts/postgres.sh` prints one), a fresh PostgreSQL database per test:
//! see [`fresh_database`], the one place every test gets its database from.
#![allow(dead_code)]

pub mod cluster;
pub mod process;
mod raw_http;
pub mod support;
pub mod ws;

use confab::server::config::Settings;
use confab::server::startup::RunningApp;
use confab::server::store::{NewMessage, WriteOp};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

#[allow(unused_imports)]
pub use ws::{Closed, WsClient};

/// How long a test waits for something that should happen promptly.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The password every test account uses.
pub const PASSWORD: &str = "correct-horse-battery";

/// A running server with its own database, which survives restarts.
pub struct TestApp {
    pub settings: Settings,
    app: Option<RunningApp>,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    /// Removed when the test ends (declared last: dropped after the server).
    pub database: TestDatabase,
}

/// The environment variable that switches the tests to PostgreSQL: the URL of a database on
/// the server to use (each test creates and drops a database of its own there).
pub const POSTGRES_ENV: &str = "CONFAB_TEST_POSTGRES_URL";

/// One test's database: `url` is what `DATABASE_URL` would be set to.
pub struct TestDatabase {
    pub url: String,
    /// SQLite: holds the database file.
    _dir: Option<TempDir>,
    /// PostgreSQL: the server's own URL and this test's database, dropped on drop.
    postgres: Option<(String, String)>,
}

/// The PostgreSQL URL the tests run against, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// A new, empty database for one test: a temporary SQLite file, or with
/// `CONFAB_TEST_POSTGRES_URL` set a new PostgreSQL database `confab_t_<random hex>` on that
/// server.
pub async fn fresh_database() -> TestDatabase {
    match postgres_url() {
        None => {
            let dir = tempfile::tempdir().expect("temp dir");
            TestDatabase {
                url: format!("sqlite://{}/t.db", dir.path().display()),
                _dir: Some(dir),
                postgres: None,
            }
        }
        Some(server) => fresh_postgres_database(&server).await,
    }
}

/// A new PostgreSQL database on the server `server` names.
pub async fn fresh_postgres_database(server: &str) -> TestDatabase {
    use sqlx::{Connection, Executor};
    let name = format!("confab_t_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={server} does not connect: {e}"));
    conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .expect("CREATE DATABASE");
    let _ = conn.close().await;
    let mut url = url::Url::parse(server).expect("a PostgreSQL URL");
    url.set_path(&format!("/{name}"));
    TestDatabase {
        url: url.to_string(),
        _dir: None,
        postgres: Some((server.to_owned(), name)),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with its own runtime. FORCE ends connections of a server the test did not stop.
        // Databases left behind (a test that panicked hard) are dropped by
        // `scripts/postgres.sh drop-test-databases`.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                use sqlx::{Connection, Executor};
                let mut conn = sqlx::PgConnection::connect(&server).await?;
                conn.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                    .await?;
                conn.close().await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop a test database: {e}");
        }
    }
}

/// A server with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose settings `tweak` adjusts first (rate limits, queue sizes, timeouts …).
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let database = fresh_database().await;
    let mut settings = Settings::for_tests(database.url.clone());
    tweak(&mut settings);
    let app = RunningApp::start(settings.clone())
        .await
        .expect("server starts");
    let addr = app.addr();
    TestApp {
        settings,
        app: Some(app),
        addr,
        http: http_client(),
        database,
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .expect("http client")
}

impl TestApp {
    /// Helpers for a server this process does not own (e.g. the `confab` binary in a child
    /// process) on `database`: `stop` and `restart` do nothing useful on it.
    pub fn external(addr: SocketAddr, database: TestDatabase) -> TestApp {
        TestApp {
            settings: Settings::for_tests(database.url.clone()),
            app: None,
            addr,
            http: http_client(),
            database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The server's own origin, as a browser on this site would send it.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful stop (sockets closed with 1001, writer flushed, database closed).
    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await.expect("graceful stop");
        }
    }

    /// Stops the server and starts a new one on the same database (the port may change).
    pub async fn restart(&mut self) {
        self.stop().await;
        let app = RunningApp::start(self.settings.clone())
            .await
            .expect("server restarts on the same database");
        self.addr = app.addr();
        self.app = Some(app);
    }

    // ---- HTTP ----------------------------------------------------------------------------

    pub async fn post_json(&self, path: &str, body: &Value, cookie: Option<&str>) -> Reply {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        Reply::from(req.send().await.expect("POST reaches the server")).await
    }

    pub async fn post_raw(&self, path: &str, body: &'static str, cookie: Option<&str>) -> Reply {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        Reply::from(req.send().await.expect("POST reaches the server")).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut req = self.http.get(self.url(path));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        Reply::from(req.send().await.expect("GET reaches the server")).await
    }

    pub async fn register_reply(&self, username: &str, password: &str) -> Reply {
        self.post_json(
            "/api/register",
            &json!({"username": username, "password": password}),
            None,
        )
        .await
    }

    /// Registers `username` and returns its session cookie (`confab_session=…`).
    pub async fn register(&self, username: &str) -> String {
        let reply = self.register_reply(username, PASSWORD).await;
        assert_eq!(reply.status, 201, "register {username}: {reply:?}");
        reply
            .session_cookie()
            .expect("register sets the session cookie")
    }

    pub async fn login_reply(&self, username: &str, password: &str) -> Reply {
        self.post_json(
            "/api/login",
            &json!({"username": username, "password": password}),
            None,
        )
        .await
    }

    /// Logs `username` in again: a second, independent session.
    pub async fn login(&self, username: &str) -> String {
        let reply = self.login_reply(username, PASSWORD).await;
        assert_eq!(reply.status, 200, "login {username}: {reply:?}");
        reply
            .session_cookie()
            .expect("login sets the session cookie")
    }

    pub async fn logout(&self, cookie: &str) -> Reply {
        self.post_json("/api/logout", &json!({}), Some(cookie))
            .await
    }

    // ---- WebSocket -----------------------------------------------------------------------

    /// Opens `/ws` with the cookie (no Origin header) and reads the `hello` frame.
    pub async fn connect(&self, cookie: &str) -> WsClient {
        WsClient::connect(self, cookie).await
    }

    /// Registers `name` and opens one socket for it.
    pub async fn user(&self, name: &str) -> (String, WsClient) {
        let cookie = self.register(name).await;
        let ws = self.connect(&cookie).await;
        (cookie, ws)
    }

    /// Sends a WebSocket upgrade request by hand and reads the HTTP answer, so refusals (401,
    /// 403, 429) can be checked with their JSON bodies.
    pub async fn raw_upgrade(
        &self,
        path: &str,
        cookie: Option<&str>,
        origin: Option<&str>,
    ) -> Reply {
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("tcp connect");
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            self.addr
        );
        if let Some(c) = cookie {
            request.push_str(&format!("Cookie: {c}\r\n"));
        }
        if let Some(o) = origin {
            request.push_str(&format!("Origin: {o}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        tokio::time::timeout(TIMEOUT, raw_http::read_response(&mut stream))
            .await
            .expect("upgrade answer in time")
    }
}

/// An HTTP answer, read completely.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub text: String,
    pub json: Option<Value>,
    pub set_cookies: Vec<String>,
    pub content_type: Option<String>,
}

impl Reply {
    async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let set_cookies = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .collect();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default().to_string());
        let text = resp.text().await.expect("response body");
        Reply {
            status,
            json: serde_json::from_str(&text).ok(),
            text,
            set_cookies,
            content_type,
        }
    }

    /// The full `Set-Cookie` header of the session cookie.
    pub fn session_set_cookie(&self) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with("confab_session="))
            .map(String::as_str)
    }

    /// `confab_session=<value>`, ready for a `Cookie` header.
    pub fn session_cookie(&self) -> Option<String> {
        self.session_set_cookie()
            .map(|c| c.split(';').next().unwrap_or_default().trim().to_string())
    }

    /// The `error.code` of a failure body, checking the `{"error":{"code","message"}}` shape.
    pub fn error_code(&self) -> String {
        let json = self
            .json
            .as_ref()
            .unwrap_or_else(|| panic!("error body is not JSON: {self:?}"));
        let error = &json["error"];
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error body has a message: {json}"
        );
        error["code"]
            .as_str()
            .unwrap_or_else(|| panic!("error body has a code: {json}"))
            .to_string()
    }
}

/// Checks an RFC 3339 timestamp in UTC, as the server sets on messages.
pub fn assert_rfc3339_utc(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is a string: {value}"));
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"));
    assert_eq!(parsed.offset().local_minus_utc(), 0, "{text:?} is UTC");
    let age = chrono::Utc::now().signed_duration_since(parsed);
    assert!(
        age.num_seconds().abs() < 600,
        "{text:?} is the server's current time"
    );
}

/// The `seq` of every frame, in order.
pub fn seqs(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| f["seq"].as_u64().expect("seq"))
        .collect()
}

/// The conversation with `peer` in a `hello` frame.
pub fn conversation<'a>(hello: &'a Value, peer: &str) -> Option<&'a Value> {
    hello["conversations"]
        .as_array()
        .expect("hello.conversations is an array")
        .iter()
        .find(|c| c["peer"] == peer)
}

/// A direct message from `from` to `to` as a writer op, its body `"{from}: {client_msg_id}"`,
/// for the store tests that drive `Store::apply_batch` themselves.
pub fn direct_message(from: &str, to: &str, client_msg_id: &str) -> WriteOp {
    WriteOp::Append(NewMessage::new(
        from.into(),
        to.into(),
        format!("{from}: {client_msg_id}"),
        client_msg_id.into(),
    ))
}
