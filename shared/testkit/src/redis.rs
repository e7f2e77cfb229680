//! A private Redis per test: random loopback port, no persistence, killed
//! when dropped; can be stopped and started again mid-test.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::free_port;

/// A running (or deliberately stopped) Redis.
pub struct TestRedis {
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
    /// Port, kept across restarts.
    port: u16,
    /// The server while it runs.
    child: Option<Child>,
}

fn redis_server() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("redis-server"))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| {
            panic!(
                "redis-server is not installed: run the tests with `make test` \
                 (it installs Redis when missing) or `apt-get install redis-server`"
            )
        })
}

impl TestRedis {
    /// Starts a Redis and waits until it accepts connections.
    pub fn start() -> Self {
        let port = free_port();
        let mut redis = Self {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            child: None,
        };
        redis.restart();
        redis
    }

    /// Another database number on this server, as a second deployment
    /// sharing the server would use. The handle owns no process: the
    /// server stops with `self`.
    pub fn database(&self, number: u8) -> Self {
        Self {
            url: format!("redis://127.0.0.1:{}/{number}", self.port),
            port: self.port,
            child: None,
        }
    }

    /// Starts it again on the same port (after [`TestRedis::stop`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis is already running");
        let child = Command::new(redis_server())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
