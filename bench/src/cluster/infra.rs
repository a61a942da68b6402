//! What the multi-node row needs besides Confab: PostgreSQL and Redis (given, or started by the
//! repository's scripts) and a fresh database for the run, dropped however the run ends.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// PostgreSQL's and Redis' URLs: given, or started by the repository's scripts (which install
/// the Debian packages if needed). `Err` is the reason to skip the row.
pub async fn urls(
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
    redis_answers(&redis)
        .await
        .map_err(|e| format!("Redis at {redis} does not answer: {e:#}"))?;
    Ok((pg, redis))
}

/// `PING` over plain TCP: any reply (also `-NOAUTH`) means a Redis server is there.
async fn redis_answers(url: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let addr = match host.rsplit_once(':') {
        Some(_) => host.to_owned(),
        None => format!("{host}:6379"),
    };
    let talk = async {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await?;
        tcp.write_all(b"PING\r\n").await?;
        let mut buf = [0u8; 64];
        match tcp.read(&mut buf).await? {
            0 => bail!("connection closed"),
            _ => Ok(()),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), talk)
        .await
        .context("timed out")?
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

/// A database created for the run; dropped when this is dropped (synchronously, so that it also
/// happens when the suite's future is dropped on Ctrl-C or its time limit).
pub struct Database {
    psql: PathBuf,
    server: String,
    name: String,
    url: String,
}

impl Database {
    /// `Err` is the reason to skip the row.
    pub async fn create(server: &str, name: &str) -> Result<Self, String> {
        let psql = find_psql().ok_or("psql (the PostgreSQL client) not found")?;
        let sql = format!("CREATE DATABASE \"{name}\"");
        psql_run(Command::new(&psql), server, &sql)
            .await
            .map_err(|e| format!("cannot create a database on {server}: {e:#}"))?;
        Ok(Self {
            psql,
            server: server.to_owned(),
            name: name.to_owned(),
            url: with_database(server, name),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let status = std::process::Command::new(&self.psql)
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.server,
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
                self.name, self.server
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
