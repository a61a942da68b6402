//! `/login`: sign in, or create an account (one form, two modes). Server errors show in red.
//! Afterwards the browser goes to `/`, or back to the page that sent it here
//! (`/login?next=/agent`; only paths on this site are followed).
//!
//! The inputs are read from the DOM when the form is submitted, so text typed before the page
//! finished hydrating is not lost; the submit button stays disabled until then, so the form can
//! never fall back to a native (URL-leaking) submission.

use super::api;
use super::handlers::{click, submit};
use super::reactive::{effect, flag, label, memo, text, When};
use crate::protocol::limits::{PASSWORD_MAX, PASSWORD_MIN};
use crate::protocol::{Credentials, Username};
use leptos::html;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    SignIn,
    Register,
}

/// Checks the form before it goes to the server; `Err` is the message to show.
fn validate(mode: Mode, username: &str, password: &str) -> Result<Credentials, String> {
    let username = Username::parse(username).map_err(|e| e.message)?;
    let len = password.chars().count();
    if mode == Mode::Register && !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        return Err(format!(
            "A password has {PASSWORD_MIN} to {PASSWORD_MAX} characters."
        ));
    }
    if password.is_empty() {
        return Err("Enter your password.".to_owned());
    }
    Ok(Credentials {
        username: username.into_string(),
        password: password.to_owned(),
    })
}

/// Where to go after signing in: `next` when it is a path on this site, else `/`.
fn after_login(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.starts_with("/login") =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = memo(move || after_login(query.with(|q| q.get("next")).as_deref()));
    let mode = RwSignal::new(Mode::SignIn);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let hydrated = RwSignal::new(false);
    let username_ref = NodeRef::<html::Input>::new();
    let password_ref = NodeRef::<html::Input>::new();
    let navigate = use_navigate();

    // Browser only: already signed in? Then straight to the app.
    let go_home = navigate.clone();
    effect(move || {
        hydrated.set(true);
        let go_home = go_home.clone();
        leptos::task::spawn_local(async move {
            if let Ok(Some(_)) = api::me().await {
                go_home(
                    &next.get_untracked(),
                    NavigateOptions {
                        replace: true,
                        ..Default::default()
                    },
                );
            }
        });
    });

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let username = username_ref
            .get_untracked()
            .map(|i| i.value())
            .unwrap_or_default();
        let password = password_ref
            .get_untracked()
            .map(|i| i.value())
            .unwrap_or_default();
        let current = mode.get_untracked();
        let credentials = match validate(current, &username, &password) {
            Ok(c) => c,
            Err(message) => return error.set(Some(message)),
        };
        error.set(None);
        busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let result = match current {
                Mode::SignIn => api::login(&credentials).await,
                Mode::Register => api::register(&credentials).await,
            };
            busy.set(false);
            match result {
                Ok(_) => navigate(&next.get_untracked(), Default::default()),
                Err(message) => error.set(Some(message)),
            }
        });
    };

    let switch = move |to: Mode| {
        mode.set(to);
        error.set(None);
    };
    let is_register = move || mode.get() == Mode::Register;

    view! {
        <div class="center-page login-page">
            <form class="card auth-card" on:submit=submit(on_submit) data-testid="auth-form" novalidate>
                <div class="brand">
                    <span class="brand-mark" aria-hidden="true">"C"</span>
                    <span class="brand-name">"Confab"</span>
                </div>
                <div class="tabs" role="tablist">
                    <button
                        type="button"
                        role="tab"
                        class="tab"
                        class:selected=flag(move || !is_register())
                        aria-selected=text(move || (!is_register()).to_string())
                        data-testid="mode-signin"
                        on:click=click(move |_| switch(Mode::SignIn))
                    >
                        "Sign in"
                    </button>
                    <button
                        type="button"
                        role="tab"
                        class="tab"
                        class:selected=is_register
                        aria-selected=text(move || is_register().to_string())
                        data-testid="mode-register"
                        on:click=click(move |_| switch(Mode::Register))
                    >
                        "Create account"
                    </button>
                </div>
                <label class="field">
                    <span>"Username"</span>
                    <input
                        node_ref=username_ref
                        name="username"
                        autocomplete="username"
                        autocapitalize="none"
                        spellcheck="false"
                        required
                        data-testid="auth-username"
                    />
                </label>
                <label class="field">
                    <span>"Password"</span>
                    <input
                        node_ref=password_ref
                        type="password"
                        name="password"
                        autocomplete=label(move || {
                            if is_register() { "new-password" } else { "current-password" }
                        })
                        required
                        data-testid="auth-password"
                    />
                </label>
                <When when=is_register>
                    <p class="hint">
                        "3–32 characters: a–z, 0–9, _ . - · password at least "
                        {PASSWORD_MIN} " characters"
                    </p>
                </When>
                {move || {
                    error
                        .get()
                        .map(|message| {
                            view! {
                                <p class="notice error" role="alert" data-testid="auth-error">
                                    {message}
                                </p>
                            }
                        })
                }}
                <button
                    type="submit"
                    class="primary wide"
                    disabled=flag(move || !hydrated.get() || busy.get())
                    data-testid="auth-submit"
                >
                    {move || match (mode.get(), busy.get()) {
                        (_, true) => "Please wait…",
                        (Mode::SignIn, false) => "Sign in",
                        (Mode::Register, false) => "Create account",
                    }}
                </button>
            </form>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_matches_the_contract() {
        assert!(validate(Mode::SignIn, "Al", "x").is_err());
        assert!(validate(Mode::Register, "alice", "short").is_err());
        let c = validate(Mode::Register, " Alice ", "long enough").unwrap();
        assert_eq!(c.username, "alice");
        assert!(validate(Mode::SignIn, "alice", "").is_err());
        assert!(validate(Mode::SignIn, "alice", "short").is_ok());
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(after_login(None), "/");
        assert_eq!(after_login(Some("/agent")), "/agent");
        assert_eq!(after_login(Some("/agent?c=ab")), "/agent?c=ab");
        assert_eq!(after_login(Some("//evil.example")), "/");
        assert_eq!(after_login(Some("/\\evil.example")), "/");
        assert_eq!(after_login(Some("https://evil.example")), "/");
        assert_eq!(after_login(Some("/login")), "/");
    }
}
