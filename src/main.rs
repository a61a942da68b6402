//! The `confab` binary: serves the app, or runs an admin command (`confab --help`).

/// mimalloc instead of glibc's malloc: every message allocates and frees a few short-lived
/// buffers (frames, JSON, rows) on several threads, and under load glibc's malloc/free with its
/// fastbin consolidation took about 15 % of the server's CPU (perf, benchmark W=10).
#[cfg(feature = "ssr")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    confab::server::cli::main()
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser build has no binary; `hydrate()` in lib.rs is its entry point.
}
