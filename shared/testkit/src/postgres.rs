//! A private PostgreSQL server for tests that stop the database: `initdb`
//! into a temporary directory, a random loopback port, no fsync (the tests
//! stop the server process, never the machine, so the OS keeps every write). It can be stopped like a crash
//! (`pg_ctl stop -m immediate`) and started again on the same port, and is
//! stopped and deleted when dropped. The machine's own server is untouched.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::free_port;

/// A private server (running or deliberately stopped).
pub struct TestPostgres {
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub url: String,
    /// Its port, kept across restarts.
    port: u16,
    /// Data directory, log and socket live here.
    dir: PathBuf,
    /// Where initdb and pg_ctl are.
    bin: PathBuf,
    /// Whether it runs.
    running: bool,
}

/// The newest PostgreSQL server binaries on the machine.
fn server_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("pg_ctl").exists() && p.join("initdb").exists())
    });
    let packaged = || {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        dirs.sort_by_key(|d| {
            d.parent()
                .and_then(Path::file_name)
                .and_then(|v| v.to_str()?.parse::<u32>().ok())
        });
        dirs.pop()
    };
    on_path.or_else(packaged).unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed: run the tests \
             with `make test` (it installs PostgreSQL when missing) or \
             `apt-get install postgresql`"
        )
    })
}

/// Runs `command` as the `postgres` user when we are root (initdb refuses root).
fn as_server_user(program: &Path) -> Command {
    // `id -u` rather than a libc dependency for one uid check.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0"));
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

impl TestPostgres {
    /// Creates a cluster and starts it; panics with how to fix what is missing.
    pub fn start() -> Self {
        let bin = server_bin();
        let dir = std::env::temp_dir().join(format!("boost-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the server directory");
        // As root the server runs as `postgres`, which must own the directory;
        // otherwise it is already ours and chown's failure does not matter.
        let _ = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status();
        let status = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed in {}", dir.display());
        let port = free_port();
        let mut server = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            dir,
            bin,
            running: false,
        };
        server.restart();
        server
    }

    /// Starts it again on the same port (after [`TestPostgres::stop`]).
    pub fn restart(&mut self) {
        assert!(!self.running, "postgres is already running");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let status = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl start");
        assert!(
            status.success(),
            "postgres did not start; see {}",
            self.dir.join("server.log").display()
        );
        self.running = true;
    }

    /// Stops it the way a crash would: no checkpoint, every connection cut.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        self.running = false;
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
