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
        }
    }

    pub fn line(&self) -> String {
        format!(
            "machine: {} x{} cores, {} MiB RAM, Linux {}, {} build, {}",
            self.cpu_model,
            self.cores,
            self.mem_total_mib,
            self.kernel,
            self.build,
            self.measured_at
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
