//! The browser bundle: size of `target/site/pkg/confab.wasm` raw and brotli-compressed, whether
//! it is a release or a debug build (debug bundles keep their `name` and `.debug_*` sections;
//! wasm-bindgen and wasm-opt strip them from release ones), and whether the running server
//! answers `Accept-Encoding: br` with a precompressed body.

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
    let profile = build_profile(&raw);
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

/// "debug" if the bundle keeps names or debug info, "release" if not.
///
/// Read from the bundle itself: guessing from which of cargo-leptos's front-end artifacts was
/// written last called a release bundle "debug" after a debug build for the tests, since
/// cargo-leptos rewrites the site from its cached release artifact.
fn build_profile(wasm: &[u8]) -> &'static str {
    match custom_sections(wasm) {
        Some(names) if names.iter().any(|n| n == "name" || n.starts_with(".debug")) => "debug",
        Some(_) => "release",
        None => "unknown",
    }
}

/// The names of a WebAssembly module's custom sections; `None` if it is not one.
fn custom_sections(wasm: &[u8]) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::CustomSection(section) = payload.ok()? {
            names.push(section.name().to_owned());
        }
    }
    Some(names)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with one type section and the given custom sections.
    fn module(custom: &[&str]) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend([1, 4, 1, 0x60, 0, 0]); // type section: one `() -> ()`
        for name in custom {
            let payload = [&[name.len() as u8][..], name.as_bytes(), b"data"].concat();
            wasm.extend([0, payload.len() as u8]);
            wasm.extend(payload);
        }
        wasm
    }

    #[test]
    fn bundle_with_names_or_debug_info_is_a_debug_build() {
        assert_eq!(build_profile(&module(&["producers", "name"])), "debug");
        assert_eq!(
            build_profile(&module(&[".debug_info", "producers"])),
            "debug"
        );
        assert_eq!(
            build_profile(&module(&["producers", "target_features"])),
            "release"
        );
        assert_eq!(build_profile(&module(&[])), "release");
    }

    #[test]
    fn truncated_or_foreign_file_is_of_unknown_profile() {
        let mut cut = module(&["name"]);
        cut.truncate(cut.len() - 2);
        assert_eq!(build_profile(&cut), "unknown");
        assert_eq!(build_profile(b"<!doctype html>"), "unknown");
    }
}
