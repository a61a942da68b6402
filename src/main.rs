//! The `confab` binary: serves the app, or runs an admin command (`confab --help`).

#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    confab::server::cli::main()
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser build has no binary; `hydrate()` in lib.rs is its entry point.
}
