//! The bench's figures as data: every figure a bench prints in its tables is
//! also appended, as one JSON object per line, to `BENCH_RESULTS` (default
//! `target/bench/results.jsonl`), so runs can be compared by a program and
//! drawn by `boost-bench chart`.
//!
//! A line: `{"run":"20261203T061500","bench":"ingest","broker":"durable",
//! "phase":"Track, 512 callers","metric":"p99","unit":"ms","value":12.5}`.
//! `run` is `BENCH_RUN` (set once per `make bench`) or the process's start
//! time; `bench` and `broker` are set once by [`start`].

use std::{io::Write as _, path::PathBuf, sync::OnceLock, time::SystemTime};

use serde_json::json;

/// Which bench this process runs, on which broker storage.
struct Context {
    run: String,
    bench: String,
    broker: &'static str,
}

static CONTEXT: OnceLock<Context> = OnceLock::new();

/// Where figures go: `BENCH_RESULTS`, else `target/bench/results.jsonl`.
pub(crate) fn path() -> PathBuf {
    std::env::var_os("BENCH_RESULTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench/results.jsonl"))
}

/// Names the bench for every figure recorded after it (`memory`: tansu's
/// memory storage rather than durable sqlite).
pub(crate) fn start(bench: &str, memory: bool) {
    let run = std::env::var("BENCH_RUN").unwrap_or_else(|_| {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!("unix-{secs}")
    });
    let _ = CONTEXT.set(Context {
        run,
        bench: bench.to_string(),
        broker: if memory { "memory" } else { "durable" },
    });
}

/// Appends one figure. A bench that was never [`start`]ed records nothing;
/// a file that cannot be written is reported once per figure and skipped
/// (the printed tables remain the primary output).
pub(crate) fn record(phase: &str, metric: &str, unit: &str, value: f64) {
    let Some(context) = CONTEXT.get() else {
        return;
    };
    let line = json!({
        "run": context.run,
        "bench": context.bench,
        "broker": context.broker,
        "phase": phase,
        "metric": metric,
        "unit": unit,
        "value": value,
    });
    let path = path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{line}"));
    if let Err(e) = written {
        eprintln!("cannot append to {}: {e}", path.display());
    }
}
