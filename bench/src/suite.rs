//! `confab-bench run`: builds, starts every server, runs the closed loops round by round
//! across them, then each server's other scenarios in turn, stopping it after them; prints the
//! table and writes the JSON report. Bounded in time throughout; Ctrl-C or an error stops
//! every child process.

use crate::clients::Kind;
use crate::cluster;
use crate::per_server;
use crate::plan::{Names, Plan};
use crate::report::{self, Report};
use crate::scenarios::{wasm, Sizes};
use crate::servers::{self, Launch};
use crate::util;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Tiny sizes (seconds), every code path against all three servers: for CI.
    #[arg(long)]
    smoke: bool,
    /// Leave out the multi-node row (two Confab nodes on PostgreSQL + Redis).
    #[arg(long)]
    no_cluster: bool,
    /// PostgreSQL server for the multi-node row (default: what `scripts/postgres.sh` prints);
    /// a database is created on it for the run and dropped afterwards.
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// Redis for the multi-node row (default: what `scripts/redis.sh` prints).
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// Scenarios to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "throughput,latency,reconnect,history,idle,fdlimit,wasm"
    )]
    scenarios: Vec<String>,
    /// Servers to run them against.
    #[arg(long, value_delimiter = ',', default_value = "confab,seed,relay")]
    servers: Vec<String>,
    /// Use this Confab binary instead of building one (`cargo build --release --features ssr`).
    #[arg(long)]
    confab_bin: Option<PathBuf>,
    /// Extra environment for Confab, e.g. `--confab-env CONFAB_OUTBOUND_QUEUE=4096` (repeatable).
    #[arg(long = "confab-env", value_parser = parse_kv)]
    confab_env: Vec<(String, String)>,
    /// Extra argument for the relay, e.g. `--relay-arg=--nagle` (repeatable; experiments only).
    #[arg(long = "relay-arg", allow_hyphen_values = true)]
    relay_args: Vec<String>,
    /// Folder for the JSON report (default: bench/results).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Repository root (default: the parent of this crate).
    #[arg(long)]
    repo: Option<PathBuf>,
    /// Override the number of pairs.
    #[arg(long)]
    pairs: Option<usize>,
    /// Override the idle socket count.
    #[arg(long)]
    idle_sockets: Option<usize>,
    /// Override how often each closed loop runs on a server (the table shows the median round).
    #[arg(long)]
    rounds: Option<usize>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    util::raise_nofile();
    let mut sizes = if args.smoke {
        Sizes::smoke()
    } else {
        Sizes::full()
    };
    if let Some(p) = args.pairs {
        sizes.pairs = p;
    }
    if let Some(n) = args.rounds {
        sizes.rounds = n.max(1);
    }
    if let Some(n) = args.idle_sockets {
        sizes.idle_sockets = n;
        sizes.server_nofile = sizes.server_nofile.max(n as u64 + 400);
    }
    let repo = match args.repo.clone() {
        Some(r) => r,
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("repo root")?
            .to_path_buf(),
    };
    // Servers run in their own working folders: a relative `--repo .` would not find the seed.
    let repo = std::fs::canonicalize(&repo)
        .with_context(|| format!("repository root {}", repo.display()))?;
    let kinds: Vec<Kind> = args
        .servers
        .iter()
        .map(|s| Kind::parse(s))
        .collect::<anyhow::Result<_>>()?;
    if sizes.server_nofile > util::hard_nofile() {
        bail!(
            "the servers need {} open files; this shell's hard limit is {}",
            sizes.server_nofile,
            util::hard_nofile()
        );
    }
    let stamp = util::utc_stamp();
    let work = std::env::temp_dir().join(format!("confab-bench-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let _cleanup = RemoveOnDrop(work.clone());
    let started_utc = util::utc_iso();
    let load_before = util::load_average();
    let total = std::time::Instant::now();

    // A Confab that does not build is reported (and fails the run) after the others ran.
    let mut build_error = None;
    let build_started = std::time::Instant::now();
    let confab_bin = match (&args.confab_bin, kinds.contains(&Kind::Confab)) {
        (Some(bin), true) => Some(bin.clone()),
        (None, true) => match servers::build_confab(&repo).await {
            Ok(bin) => Some(bin),
            Err(e) => {
                eprintln!("[confab] {e:#}");
                build_error = Some(format!("build: {e:#}"));
                None
            }
        },
        _ => None,
    };
    let build_secs = build_started.elapsed().as_secs_f64();
    let seed_packages = match kinds.contains(&Kind::Seed) {
        true => servers::ensure_seed_venv(&repo).await?,
        false => String::new(),
    };
    let cluster_on = !args.no_cluster
        && kinds.contains(&Kind::Confab)
        && (args.scenarios.iter()).any(|s| s == "throughput" || s == "latency");
    // Like the seed's venv: set up (and maybe installed) before the timed part.
    let mut cluster_infra = match cluster_on {
        true => Some(
            cluster::infra::urls(&repo, args.postgres_url.clone(), args.redis_url.clone()).await,
        ),
        false => None,
    };
    let names = Names::new(&sizes);
    let mut wasm_result = match args.scenarios.iter().any(|s| s == "wasm") {
        true => wasm::measure(&repo, sizes.brotli_quality)?,
        false => None,
    };
    let mut plan = Plan {
        sizes: &sizes,
        names: &names,
        scenarios: &args.scenarios,
        launch: Launch {
            repo: &repo,
            work: &work,
            nofile: sizes.server_nofile,
            confab_bin: confab_bin.as_deref(),
            confab_env: &args.confab_env,
            relay_args: &args.relay_args,
            database_url: None,
        },
        run_tag: format!("r{:x}", util::clock_seed() & 0xfff_ffff),
        wasm: wasm_result.as_mut(),
    };
    let limit = Duration::from_secs(if args.smoke { 240 } else { 3600 });
    let all = async {
        // Every server is started first and the closed loops run round by round across them
        // (see `per_server::closed_loops`); the other scenarios then run one server at a time.
        let mut running = Vec::new();
        for kind in &kinds {
            running.push(per_server::start(*kind, &mut plan).await);
        }
        for round in 1..=sizes.rounds {
            for server in running.iter_mut() {
                per_server::closed_loops(server, &plan, round).await;
            }
        }
        // Right after the single-node closed loops, so that both see the same machine.
        let cluster = match cluster_infra.take() {
            Some(infra) => Some(cluster::run(&plan, infra).await),
            None => None,
        };
        let mut results = BTreeMap::new();
        for (kind, server) in kinds.iter().zip(running) {
            results.insert(kind.name(), per_server::finish(server, &mut plan).await);
        }
        (results, cluster)
    };
    let (mut results, mut cluster) = tokio::select! {
        r = tokio::time::timeout(limit, all) => r.context("the suite exceeded its time limit")?,
        _ = tokio::signal::ctrl_c() => bail!("interrupted; servers and clients stopped"),
    };
    if let (Some(e), Some(r)) = (build_error, results.get_mut("confab")) {
        r.errors.insert(0, e);
    }

    if let Some(c) = cluster.as_mut() {
        c.compare(results.get("confab"));
    }
    let rows = report::rows(&results, &wasm_result, &sizes);
    crate::table::print(&rows, cluster.as_ref(), &sizes, args.smoke);
    let mut machine = BTreeMap::new();
    machine.insert(
        "cpus",
        std::thread::available_parallelism()
            .map_or(0, |n| n.get())
            .to_string(),
    );
    machine.insert("load_avg_before", load_before);
    machine.insert("load_avg_after", util::load_average());
    machine.insert(
        "seconds_total",
        format!("{:.0}", total.elapsed().as_secs_f64()),
    );
    machine.insert(
        "confab_bin",
        confab_bin
            .map(|b| b.display().to_string())
            .unwrap_or_default(),
    );
    machine.insert("confab_env", format!("{:?}", args.confab_env));
    machine.insert("seed_packages", seed_packages);
    machine.insert("confab_build_seconds", format!("{build_secs:.0}"));
    machine.insert("relay_args", format!("{:?}", args.relay_args));
    let report = Report {
        started_utc,
        finished_utc: util::utc_iso(),
        smoke: args.smoke,
        sizes: sizes.clone(),
        machine,
        rows,
        servers: results,
        cluster,
        wasm: wasm_result,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| repo.join("bench/results"));
    let path = report::write_json(&out, &stamp, &report)?;
    println!(
        "\nJSON report: {}  ({:.0} s in all, of which {build_secs:.0} s building Confab)",
        path.display(),
        total.elapsed().as_secs_f64()
    );
    let mut errors = 0;
    let cluster_errors = report.cluster.iter().map(|c| ("cluster", &c.errors));
    let all_errors = report.servers.iter().map(|(s, r)| (*s, &r.errors));
    for (server, errs) in all_errors.chain(cluster_errors) {
        for e in errs {
            println!("error [{server}]: {e}");
            errors += 1;
        }
    }
    // Goals not met are results, not failures; a scenario that could not run is a failure.
    if errors > 0 {
        bail!("{errors} scenario error(s); see above");
    }
    Ok(())
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
