//! The browser bundle: size of `target/site/pkg/confab.wasm` raw and brotli-compressed, whether
//! it is a release or a debug build (which cargo-leptos front-end artifact it came from), and whether the
//! running server answers `Accept-Encoding: br` with a precompressed body.

use serde::Serialize;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct WasmResult {
    pub path: PathBuf,
    pub profile: &'static str,
    pub raw_bytes: u64,
    pub brotli_bytes: u64,
    pub brotli_quality: u32,
    /// A `.br` file next to it (what `cargo leptos build --release --precompress` writes).
    pub br_file_on_disk: bool,
    /// `Content-Encoding` the server sent for `GET /pkg/confab.wasm` with `Accept-Encoding: br`.
    pub served_content_encoding: Option<String>,
    pub served_bytes: Option<u64>,
}

/// `None` when no bundle was built.
pub fn measure(repo: &Path, quality: u32) -> anyhow::Result<Option<WasmResult>> {
    let path = repo.join("target/site/pkg/confab.wasm");
    let Ok(raw) = std::fs::read(&path) else {
        return Ok(None);
    };
    let profile = build_profile(repo, &path);
    let mut compressed = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut compressed, 1 << 16, quality, 22);
        writer.write_all(&raw)?;
    }
    Ok(Some(WasmResult {
        br_file_on_disk: path.with_extension("wasm.br").exists(),
        path,
        profile,
        raw_bytes: raw.len() as u64,
        brotli_bytes: compressed.len() as u64,
        brotli_quality: quality,
        served_content_encoding: None,
        served_bytes: None,
    }))
}

/// Which cargo-leptos build wrote the site's bundle: the front-end artifact (before
/// wasm-bindgen) of the newest profile not newer than the bundle itself.
fn build_profile(repo: &Path, bundle: &Path) -> &'static str {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(site) = mtime(bundle) else {
        return "unknown";
    };
    // cargo-leptos builds the front end under Cargo's target directory, which CARGO_TARGET_DIR
    // may move away from the repository (the site itself always stays in `target/site`).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| repo.join(dir))
        .unwrap_or_else(|| repo.join("target"));
    let front = target.join("front/wasm32-unknown-unknown");
    [
        ("release", "wasm-release"),
        ("release", "release"),
        ("debug", "debug"),
    ]
    .iter()
    .filter_map(|(name, dir)| Some((*name, mtime(&front.join(dir).join("confab.wasm"))?)))
    .filter(|(_, t)| *t <= site)
    .max_by_key(|(_, t)| *t)
    .map_or("unknown", |(name, _)| name)
}

/// Asks the running Confab for the bundle with `Accept-Encoding: br`.
pub async fn check_served(result: &mut WasmResult, addr: SocketAddr) -> anyhow::Result<()> {
    // reqwest is built without decompression: the body arrives as sent.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let response = http
        .get(format!("http://{addr}/pkg/confab.wasm"))
        .header("accept-encoding", "br")
        .send()
        .await?;
    result.served_content_encoding = response
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    result.served_bytes = Some(response.bytes().await?.len() as u64);
    Ok(())
}
