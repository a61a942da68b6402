//! The calls of the HTTP API: accounts (`/api/register`, `/api/login`, `/api/logout`,
//! `/api/me`) and the support customer's `POST /api/support/start`.
//!
//! The session cookie is HttpOnly: the browser attaches it to these same-origin requests and
//! to the socket; this code never sees it. Failures come back as the server's own message
//! (from [`ApiErrorBody`]) ready to show in red. In the server build these calls are never made
//! and only report that they are unavailable.

#[cfg(feature = "hydrate")]
use crate::protocol::ApiErrorBody;
use crate::protocol::{Credentials, Me, SupportStart, SupportStarted};

/// Shown when the server cannot be reached at all.
pub const NETWORK_ERROR: &str = "Cannot reach the server. Check your connection and try again.";

/// Who is signed in: `Ok(None)` when nobody is (401).
pub async fn me() -> Result<Option<Me>, String> {
    #[cfg(feature = "hydrate")]
    {
        let request = gloo_net::http::Request::get("/api/me")
            .build()
            .map_err(|_| NETWORK_ERROR.to_owned())?;
        let answer = Answer::of(request).await?;
        match answer.status {
            200 => answer.json::<Me>().map(Some),
            401 => Ok(None),
            _ => Err(answer.error_message()),
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Err(unavailable())
    }
}

/// Signs in; the answer sets the session cookie.
pub async fn login(credentials: &Credentials) -> Result<Me, String> {
    post_credentials("/api/login", credentials).await
}

/// Creates an account and signs in.
pub async fn register(credentials: &Credentials) -> Result<Me, String> {
    post_credentials("/api/register", credentials).await
}

/// Signs out: the server revokes the session and closes its sockets.
pub async fn logout() -> Result<(), String> {
    #[cfg(feature = "hydrate")]
    {
        let request = gloo_net::http::Request::post("/api/logout")
            .build()
            .map_err(|_| NETWORK_ERROR.to_owned())?;
        let answer = Answer::of(request).await?;
        // 401: the session was already gone, which is what signing out wants anyway.
        if answer.ok() || answer.status == 401 {
            Ok(())
        } else {
            Err(answer.error_message())
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Err(unavailable())
    }
}

/// Starts (or, with the customer's cookie, finds again) the support conversation of this
/// browser; a `name` renames the customer. The answer sets the HttpOnly `confab_support` cookie.
#[allow(unused_variables)]
pub async fn support_start(name: Option<String>) -> Result<SupportStarted, String> {
    #[cfg(feature = "hydrate")]
    {
        let request = gloo_net::http::Request::post("/api/support/start")
            .json(&SupportStart { name })
            .map_err(|e| e.to_string())?;
        Answer::of(request).await?.json_if_ok::<SupportStarted>()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = SupportStart { name };
        Err(unavailable())
    }
}

#[allow(unused_variables)]
async fn post_credentials(url: &str, credentials: &Credentials) -> Result<Me, String> {
    #[cfg(feature = "hydrate")]
    {
        let request = gloo_net::http::Request::post(url)
            .json(credentials)
            .map_err(|e| e.to_string())?;
        Answer::of(request).await?.json_if_ok::<Me>()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Err(unavailable())
    }
}

/// A response read to the end. Every call goes through this one `async fn` (one copy of the
/// fetch-and-read code in the bundle), and bodies are decoded afterwards, synchronously.
#[cfg(feature = "hydrate")]
struct Answer {
    status: u16,
    /// The body text, or why it could not be read.
    body: Result<String, String>,
}

#[cfg(feature = "hydrate")]
impl Answer {
    /// Sends `request` and reads the whole answer.
    async fn of(request: gloo_net::http::Request) -> Result<Self, String> {
        let resp = request.send().await.map_err(|_| NETWORK_ERROR.to_owned())?;
        Ok(Self {
            status: resp.status(),
            body: resp.text().await.map_err(|e| e.to_string()),
        })
    }

    /// A success status (200–299).
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON of type `T`.
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_str(self.body.as_ref()?).map_err(|e| e.to_string())
    }

    /// The body of a successful response as JSON of type `T`; for a failed one, its message.
    fn json_if_ok<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        if self.ok() {
            self.json()
        } else {
            Err(self.error_message())
        }
    }

    /// The human message of a failed response, from its `{"error": {...}}` body when it has one.
    fn error_message(&self) -> String {
        match self.json::<ApiErrorBody>() {
            Ok(body) => body.error.message,
            Err(_) => format!("Unexpected answer from the server ({}).", self.status),
        }
    }
}

#[cfg(not(feature = "hydrate"))]
fn unavailable() -> String {
    "only available in the browser".to_owned()
}
