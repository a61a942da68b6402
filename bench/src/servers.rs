//! Building and running the three servers as child processes on loopback: Confab (release
//! binary), the seed (uvicorn in bench/.venv) and the relay (this binary's `relay` mode).
//! Children get the open-file limit of the scenario, die with the generator (PDEATHSIG) and are
//! killed when their handle drops, also on error or Ctrl-C.

use crate::clients::Kind;
use crate::util::free_port;
use anyhow::{bail, Context};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub struct Server {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub pid: u32,
    pub log: PathBuf,
    child: Child,
}

/// Everything a server start needs to know.
#[derive(Clone)]
pub struct Launch<'a> {
    pub repo: &'a Path,
    pub work: &'a Path,
    pub nofile: u64,
    pub confab_bin: Option<&'a Path>,
    pub confab_env: &'a [(String, String)],
    /// Extra arguments for `confab-bench relay` (experiments: `--nagle`, `--read-buffer-kib=4`).
    pub relay_args: &'a [String],
    /// Confab's `DATABASE_URL` (`sqlite://…`, or `postgres://…` for a cluster's nodes).
    pub database_url: Option<String>,
}

impl Server {
    pub async fn start(kind: Kind, launch: &Launch<'_>) -> anyhow::Result<Self> {
        let addr = free_port()?;
        let log = launch
            .work
            .join(format!("{}-{}.log", kind.name(), addr.port()));
        let mut cmd = match kind {
            Kind::Confab => confab_command(launch, addr)?,
            Kind::Seed => seed_command(launch, addr),
            Kind::Relay => {
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.arg("relay")
                    .arg("--addr")
                    .arg(addr.to_string())
                    .args(launch.relay_args);
                cmd
            }
        };
        let out = std::fs::File::create(&log)?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        let nofile = launch.nofile;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: nofile,
                    rlim_max: nofile,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", kind.name()))?;
        let pid = child.id().context("child pid")?;
        let mut server = Server {
            kind,
            addr,
            pid,
            log,
            child,
        };
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if !self.alive() {
                bail!(
                    "{} exited while starting; log:\n{}",
                    self.kind.name(),
                    self.log_tail()
                );
            }
            let ready = match self.kind {
                Kind::Confab => crate::confab_client::ready(self.addr).await,
                Kind::Seed => http_ok(self.addr, "/").await,
                Kind::Relay => tokio::net::TcpStream::connect(self.addr).await.is_ok(),
            };
            if ready {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{} not ready after {limit:?}; log:\n{}",
            self.kind.name(),
            self.log_tail()
        )
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns whether it stopped on its own.
    pub async fn stop(mut self, grace: Duration) -> bool {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(_) => true,
            Err(_) => {
                let _ = self.child.kill().await;
                false
            }
        }
    }
}

fn confab_command(launch: &Launch<'_>, addr: SocketAddr) -> anyhow::Result<Command> {
    let bin = launch.confab_bin.context("no confab binary")?;
    let db = launch.database_url.as_deref().context("no database URL")?;
    let mut cmd = Command::new(bin);
    cmd.current_dir(launch.repo)
        .env("LEPTOS_SITE_ADDR", addr.to_string())
        .env("DATABASE_URL", db)
        .env("LEPTOS_SITE_ROOT", launch.repo.join("target/site"))
        .env("RUST_LOG", "warn")
        // The defaults (20/s, burst 40) are per-socket abuse limits; load needs far more.
        .env("CONFAB_RATE_PER_SEC", "1000000")
        .env("CONFAB_RATE_BURST", "1000000");
    for (k, v) in launch.confab_env {
        cmd.env(k, v);
    }
    Ok(cmd)
}

fn seed_command(launch: &Launch<'_>, addr: SocketAddr) -> Command {
    let seed = launch.repo.join("bench/seed");
    let mut cmd = Command::new(launch.repo.join("bench/.venv/bin/uvicorn"));
    // The seed mounts `templates` relative to the working directory.
    cmd.current_dir(&seed)
        .arg("main:app")
        .arg("--app-dir")
        .arg(&seed)
        .args(["--host", "127.0.0.1", "--port"])
        .arg(addr.port().to_string())
        .args(["--log-level", "warning"]);
    cmd
}

async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(http) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    matches!(http.get(format!("http://{addr}{path}")).send().await, Ok(r) if r.status().is_success())
}

/// `cargo build --release --features ssr --bin confab` in the repository; returns the binary.
/// Waits for cargo's lock if others are building.
pub async fn build_confab(repo: &Path) -> anyhow::Result<PathBuf> {
    eprintln!(
        "building Confab (release, --features ssr) in {}",
        repo.display()
    );
    let output = Command::new("cargo")
        .current_dir(repo)
        .args(["build", "--release", "--features", "ssr", "--bin", "confab"])
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .context("running cargo")?;
    if !output.status.success() {
        bail!("cargo build of Confab failed ({})", output.status);
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "confab")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .context("cargo did not report the confab executable")
}

/// Creates bench/.venv with the seed's packages unless it already works; returns their versions.
pub async fn ensure_seed_venv(repo: &Path) -> anyhow::Result<String> {
    let venv = repo.join("bench/.venv");
    let python = venv.join("bin/python");
    let works = Command::new(&python)
        .args(["-c", "import fastapi, uvicorn, websockets"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !works {
        eprintln!("setting up the seed's venv in {}", venv.display());
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).await?;
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "-r"])
            .arg(repo.join("bench/seed/requirements.txt")))
        .await?;
    }
    let freeze = Command::new(venv.join("bin/pip"))
        .arg("freeze")
        .output()
        .await?;
    Ok(String::from_utf8_lossy(&freeze.stdout)
        .lines()
        .filter(|l| {
            ["fastapi=", "uvicorn=", "websockets=", "starlette="]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join(" "))
}

async fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.kill_on_drop(true).status().await?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}
