//! Small helpers: clocks, process facts from /proc, file limits, ports, a tiny RNG.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Monotonic nanoseconds since the first call in this process (send timestamps in bodies).
pub fn now_ns() -> u64 {
    base().elapsed().as_nanos() as u64
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn utc_parts() -> (i64, u32, u32, u64, u64, u64, u32) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (y, mo, d) = civil((secs / 86_400) as i64);
    let s = secs % 86_400;
    (y, mo, d, s / 3600, s / 60 % 60, s % 60, now.subsec_millis())
}

/// `20261123T112233Z`, for file names.
pub fn utc_stamp() -> String {
    let (y, mo, d, h, mi, s, _) = utc_parts();
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `2026-11-23T11:22:33.123Z` (what the seed's browser client sends as `timestamp`).
pub fn utc_iso() -> String {
    let (y, mo, d, h, mi, s, ms) = utc_parts();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Raises this process's soft open-file limit to its hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

/// The hard open-file limit of this process.
pub fn hard_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_max
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// CPU time (user + system) a process has used, in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat_cpu(&text)?.1)
}

/// The name and CPU seconds (user + system) in the text of a `/proc/…/stat` file.
fn stat_cpu(text: &str) -> Option<(&str, f64)> {
    // The name sits in parentheses and may hold spaces and parentheses itself.
    let close = text.rfind(')')?;
    let name = &text[text.find('(')? + 1..close];
    let after = text.get(close + 2..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: a plain query.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    Some((name, ticks as f64 / hz as f64))
}

/// CPU seconds the threads of these processes have used, summed by thread name (tokio's
/// workers share one; Confab's store threads each have their own).
pub fn thread_cpu_secs(pids: &[u32]) -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            if let Some((name, secs)) = stat_cpu(&text) {
                *by_name.entry(name.to_owned()).or_default() += secs;
            }
        }
    }
    by_name
}

/// Open file descriptors of a process.
pub fn fd_count(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// The 1-minute load average and the number of CPUs, for the report.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// xorshift64*: repeatable pseudo-random numbers without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn hex(&mut self, n: usize) -> String {
        (0..n.div_ceil(16))
            .map(|_| format!("{:016x}", self.next_u64()))
            .collect::<String>()[..n]
            .to_owned()
    }
}

/// A seed from the clock and pid, for tokens that must not repeat between runs.
pub fn clock_seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}

/// Percentile of a histogram in milliseconds.
pub fn ms(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// A new latency histogram in microseconds (1 µs to 120 s, 3 significant digits).
pub fn histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 120_000_000, 3).expect("static bounds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_thread_name_and_cpu_time() {
        // utime 250 and stime 50 ticks: fields 14 and 15 of the line.
        let line =
            "4242 (sqlite-log) S 1 4242 4242 0 -1 4194368 100 0 0 0 250 50 0 0 20 0 9 0 12345";
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        assert_eq!(stat_cpu(line), Some(("sqlite-log", 300.0 / hz)));
        // A name may hold spaces and parentheses of its own.
        let odd = "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1";
        assert_eq!(stat_cpu(odd), Some(("a (b) c", 7.0 / hz)));
        assert_eq!(stat_cpu("7 (cut"), None);
    }

    #[test]
    fn this_process_has_its_threads_cpu_time_by_name() {
        let busy = std::thread::Builder::new()
            .name("bench-busy".into())
            .spawn(|| {
                let until = Instant::now() + std::time::Duration::from_millis(60);
                let mut n = 0u64;
                while Instant::now() < until {
                    n = n.wrapping_add(1);
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
                n
            })
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let threads = thread_cpu_secs(&[std::process::id()]);
        assert!(
            threads.get("bench-busy").is_some_and(|secs| *secs > 0.0),
            "{threads:?}"
        );
        busy.join().unwrap();
    }
}
