//! What the multi-node row needs besides Confab: PostgreSQL and Redis (given, or started by the
//! repository's scripts) and a fresh database for the run, dropped however the run ends.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// PostgreSQL's and Redis' URLs: given, or started by the repository's scripts (which install
/// the Debian packages if needed). `Err` is the reason to skip the row.
pub async fn infra(
    repo: &Path,
    postgres: Option<String>,
    redis: Option<String>,
) -> Result<(String, String), String> {
    let pg = match postgres {
        Some(u) => u,
        None => script(repo, "scripts/postgres.sh").await?,
    };
    let redis = match redis {
        Some(u) => u,
        None => script(repo, "scripts/redis.sh").await?,
    };
    Ok((pg, redis))
}

/// Runs a setup script (bounded); its last line of output is the URL.
async fn script(repo: &Path, path: &str) -> Result<String, String> {
    let run = Command::new(repo.join(path))
        .current_dir(repo)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(Duration::from_secs(180), run).await {
        Err(_) => return Err(format!("{path} did not finish within 180 s")),
        Ok(Err(e)) => return Err(format!("{path}: {e}")),
        Ok(Ok(out)) => out,
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let url = stdout.lines().rev().find(|l| !l.trim().is_empty());
    match (out.status.success(), url) {
        (true, Some(url)) => Ok(url.trim().to_owned()),
        _ => {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(3).collect();
            Err(format!(
                "{path} failed ({}): {}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ))
        }
    }
}

/// `psql` on PATH, else the newest of Debian's server packages.
fn find_psql() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("psql"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin/psql")))
            .filter(|p| p.is_file())
            .collect();
        found.sort_by_key(|p| {
            let version = p.parent()?.parent()?.file_name()?.to_str()?.to_owned();
            version.parse::<u32>().ok()
        });
        found.pop()
    })
}

async fn psql_run(mut cmd: Command, url: &str, sql: &str) -> anyhow::Result<()> {
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .context("psql timed out")??;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// `postgres://u@h:p/db?x` with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, q)) => (base, format!("?{q}")),
        None => (url, String::new()),
    };
    let host = base.find("://").map_or(0, |i| i + 3);
    let server = match base[host..].find('/') {
        Some(i) => &base[..host + i],
        None => base,
    };
    format!("{server}/{name}{query}")
}

struct DropDatabase {
    psql: PathBuf,
    url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        // Synchronous, so that it also runs when the suite's future is dropped.
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let status = std::process::Command::new(&self.psql)
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url,
                "-c",
                &sql,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => eprintln!("[cluster] dropped database {}", self.name),
            _ => eprintln!(
                "[cluster] could not drop database {} on {}",
                self.name, self.url
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database_name() {
        let u = "postgres://confab@127.0.0.1:55432/confab";
        assert_eq!(with_database(u, "x"), "postgres://confab@127.0.0.1:55432/x");
        assert_eq!(
            with_database("postgres://h:1/d?sslmode=disable", "x"),
            "postgres://h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
    }
}
