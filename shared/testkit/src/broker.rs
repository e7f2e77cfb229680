//! A private tansu broker per test: random loopback port, durable sqlite
//! storage in a temporary directory, its own cluster id, killed and removed
//! when dropped.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::free_port;

/// A running (or deliberately stopped) tansu broker.
pub struct TestBroker {
    /// `127.0.0.1:<port>`, for `BOOST_KAFKA_BROKERS`.
    pub address: String,
    /// Port the broker listens on; kept across restarts.
    port: u16,
    /// Working directory holding the sqlite file.
    dir: PathBuf,
    /// The broker process while it runs.
    child: Option<Child>,
    /// `sqlite://tansu.db` (durable, the default) or `memory://tansu/`.
    storage: &'static str,
    /// The cluster id the broker reports; stored offsets are keyed by it.
    pub cluster_id: String,
    /// Partitions of the events topic the stack's services create and
    /// expect (`--kafka-partitions`); 4 unless set with
    /// [`TestBroker::with_partitions`].
    pub partitions: i32,
}

/// Finds the tansu binary: `BOOST_TANSU_BIN`, the per-machine cache, or PATH.
pub fn tansu_binary() -> PathBuf {
    if let Ok(path) = std::env::var("BOOST_TANSU_BIN") {
        return PathBuf::from(path);
    }
    let cached = std::env::var("HOME")
        .map(|h| PathBuf::from(h).join(".cache/boost/bin/tansu"))
        .ok();
    if let Some(path) = cached.filter(|p| p.exists()) {
        return path;
    }
    which_tansu().unwrap_or_else(|| {
        panic!(
            "the tansu broker is not installed: run the tests with `make test` \
             (it builds tansu once per machine) or set BOOST_TANSU_BIN"
        )
    })
}

fn which_tansu() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("tansu"))
            .find(|p| p.exists())
    })
}

impl TestBroker {
    /// Starts a broker with durable sqlite storage and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_with("sqlite://tansu.db")
    }

    /// Starts a broker keeping records in memory only (fast; lost on restart).
    pub fn start_in_memory() -> Self {
        Self::start_with("memory://tansu/")
    }

    /// The events topic on this broker gets `partitions` partitions (set
    /// before a stack starts on it).
    pub fn with_partitions(mut self, partitions: i32) -> Self {
        self.partitions = partitions;
        self
    }

    fn start_with(storage: &'static str) -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("boost-tansu-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create broker directory");
        let mut broker = Self {
            address: format!("127.0.0.1:{port}"),
            port,
            dir,
            child: None,
            storage,
            cluster_id: format!("boost-test-{}", uuid::Uuid::new_v4().simple()),
            partitions: 4,
        };
        broker.restart();
        broker
    }

    /// Starts the broker again on the same port and storage (after [`TestBroker::kill`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "broker is already running");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.dir.join("tansu.log")).expect("broker log");
        let child = Command::new(tansu_binary())
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", self.storage])
            .args(["--cluster-id", &self.cluster_id])
            .current_dir(&self.dir)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&self.address).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {} within 20 s",
                self.address
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Replaces the broker's log with a new, empty one on the same port and
    /// cluster id, as a reset broker (a deleted data directory) would be.
    pub fn wipe_log(&mut self) {
        self.kill();
        for entry in std::fs::read_dir(&self.dir)
            .expect("broker directory")
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with("tansu.db") {
                std::fs::remove_file(entry.path()).expect("remove broker log");
            }
        }
        self.restart();
    }

    /// Kills the broker with SIGKILL; its acknowledged data stays on disk.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
