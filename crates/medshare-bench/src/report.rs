//! Output: the human summary (stdout, or stderr when a JSON record is wanted), the JSON record,
//! latency statistics and a description of the machine.

use serde::Serialize;
use std::time::Duration;

/// Where the human summary goes.
#[derive(Clone, Copy)]
pub struct Out {
    json: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// One line of the human summary.
    pub fn say(&self, line: impl AsRef<str>) {
        if self.json {
            eprintln!("{}", line.as_ref());
        } else {
            println!("{}", line.as_ref());
        }
    }

    /// Print the JSON record on stdout (only with `--json`).
    pub fn record(&self, value: &impl Serialize) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        }
        Ok(())
    }
}

/// Latency percentiles in milliseconds (nearest-rank).
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub count: usize,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(samples: &[Duration]) -> Self {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let pick = |p: f64| {
            if ms.is_empty() {
                return f64::NAN;
            }
            let rank = ((p / 100.0) * ms.len() as f64).ceil() as usize;
            ms[rank.clamp(1, ms.len()) - 1]
        };
        Self {
            count: ms.len(),
            min_ms: ms.first().copied().unwrap_or(f64::NAN),
            mean_ms: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
            p50_ms: pick(50.0),
            p90_ms: pick(90.0),
            p99_ms: pick(99.0),
            max_ms: ms.last().copied().unwrap_or(f64::NAN),
        }
    }

    pub fn line(&self) -> String {
        format!(
            "n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms (min {:.1}, mean {:.1})",
            self.count,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            self.min_ms,
            self.mean_ms
        )
    }
}

/// The median of a few measurements.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Throughput in MiB/s (2^20 bytes per second).
pub fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64()
}

/// A target and whether this run met it.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub value: f64,
    pub met: bool,
}

impl Target {
    pub fn new(name: &str, goal: &str, value: f64, met: bool) -> Self {
        Self {
            name: name.into(),
            goal: goal.into(),
            value,
            met,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "target {}: {} -> {:.3} {}",
            self.name,
            self.goal,
            self.value,
            if self.met { "MET" } else { "NOT MET" }
        )
    }
}

/// What the figures were measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub mem_total_mib: u64,
    pub kernel: String,
    /// `release` or `debug` (debug figures are meaningless).
    pub build: &'static str,
    pub measured_at: String,
    /// `/proc/loadavg` when the benchmark started: other work on the machine skews figures.
    pub loadavg_at_start: String,
}

impl Machine {
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let mem_total_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(0, |kib| kib / 1024);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let measured_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let loadavg_at_start = std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        Self {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            mem_total_mib,
            kernel,
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            measured_at,
            loadavg_at_start,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "machine: {} x{} cores, {} MiB RAM, Linux {}, {} build, {}, load average {}",
            self.cpu_model,
            self.cores,
            self.mem_total_mib,
            self.kernel,
            self.build,
            self.measured_at,
            self.loadavg_at_start
        )
    }

    /// Print the machine line, and a warning when the figures come from a debug build.
    pub fn announce(&self, out: Out) {
        out.say(self.line());
        if self.build == "debug" {
            out.say("WARNING: debug build: figures are not representative; use --release");
        }
    }
}

/// User-space CPU time in USER_HZ ticks: (this process and its reaped children, the whole
/// machine). User time only: kernel write-back of our own files runs in kernel threads and would
/// otherwise count as someone else's work.
fn cpu_ticks() -> (u64, u64) {
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime is field 14 overall.
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let field = |n: usize| rest.get(n - 3)?.parse::<u64>().ok();
            Some(field(14)? + field(16)?)
        })
        .unwrap_or(0);
    let machine = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let v: Vec<u64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle ...
            Some(v.first()? + v.get(1)?)
        })
        .unwrap_or(0);
    (own, machine)
}

/// How much user-space CPU this benchmark used, and how much everything else on the machine
/// used over the same time: other work (builds, tests) on the 2 cores skews every figure.
#[derive(Clone, Debug, Serialize)]
pub struct CpuShare {
    pub wall_secs: f64,
    /// This process and the child processes it waited for (hub, nginx, rage, age).
    pub ours_core_secs: f64,
    /// Everything else that ran meanwhile.
    pub others_core_secs: f64,
}

/// Starts counting at creation.
pub struct CpuMeter {
    started: std::time::Instant,
    own: u64,
    machine: u64,
}

impl CpuMeter {
    pub fn start() -> Self {
        let (own, machine) = cpu_ticks();
        Self {
            started: std::time::Instant::now(),
            own,
            machine,
        }
    }

    pub fn finish(&self) -> CpuShare {
        // USER_HZ is 100 on every Linux this runs on.
        const HZ: f64 = 100.0;
        let (own, machine) = cpu_ticks();
        let ours = own.saturating_sub(self.own) as f64 / HZ;
        let all = machine.saturating_sub(self.machine) as f64 / HZ;
        CpuShare {
            wall_secs: self.started.elapsed().as_secs_f64(),
            ours_core_secs: ours,
            others_core_secs: (all - ours).max(0.0),
        }
    }
}

impl CpuShare {
    pub fn line(&self) -> String {
        let others = self.others_core_secs / self.wall_secs;
        format!(
            "user cpu: this benchmark {:.1} core-s, other work on the machine {:.1} core-s over \
             {:.1} s ({:.2} cores on average){}",
            self.ours_core_secs,
            self.others_core_secs,
            self.wall_secs,
            others,
            if others > 0.2 {
                " -- the machine was not quiet: figures are pessimistic"
            } else {
                ""
            }
        )
    }
}
