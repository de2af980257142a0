//! The Redis servers the tests use: the standalone server and cluster that
//! `scripts/with-redis.sh` (and `.ci/run`) start, backends on them isolated by a unique key
//! prefix, and private servers a test starts, stops and kills itself.
//!
//! Without its variable a test prints a skip line and returns, unless `CI` is set, where it
//! fails: CI must never pass by skipping.
//!
//! The HTTP tests reach it as `common::redis_env`; the Redis tests, which do not need the
//! `server` feature that `tests/common/mod.rs` does, include it by
//! `#[path = "common/redis_env.rs"] mod redis_env;`.

#![allow(dead_code)] // each test file uses its own part

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The value of `var`, or `None` with a line saying the test is skipped. Under CI (`CI` set)
/// a missing variable fails the test: CI must never pass by skipping.
fn env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set: run the tests through scripts/with-redis.sh")
        }
        _ => {
            eprintln!("skipped: {var} is not set (run through scripts/with-redis.sh)");
            None
        }
    }
}

/// The shared standalone server's URL.
pub fn standalone_url() -> Option<String> {
    env("AGENT_SESSIONS_REDIS_URL")
}

/// The shared cluster's node URLs.
pub fn cluster_urls() -> Option<Vec<String>> {
    env("AGENT_SESSIONS_REDIS_CLUSTER_URLS").map(|v| v.split(',').map(str::to_owned).collect())
}

/// A builder with a key prefix no other test uses.
#[cfg(feature = "redis")]
pub fn builder() -> agent_sessions::redis::RedisBackendBuilder {
    agent_sessions::redis::RedisBackend::builder()
        .key_prefix(unique("t"))
        .timeout(Duration::from_secs(10))
}

/// A backend built by `b` on the shared standalone server; `None` (skip) without one.
#[cfg(feature = "redis")]
pub async fn standalone_with(
    b: agent_sessions::redis::RedisBackendBuilder,
) -> Option<agent_sessions::redis::RedisBackend> {
    let url = standalone_url()?;
    Some(b.connect(&url).await.expect("connect"))
}

/// A backend built by `b` on the shared cluster; `None` (skip) without one.
#[cfg(feature = "redis")]
pub async fn cluster_with(
    b: agent_sessions::redis::RedisBackendBuilder,
) -> Option<agent_sessions::redis::RedisBackend> {
    let urls = cluster_urls()?;
    Some(b.connect_cluster(&urls).await.expect("connect_cluster"))
}

/// A backend on the shared standalone server, isolated by its prefix.
#[cfg(feature = "redis")]
pub async fn standalone() -> Option<agent_sessions::redis::RedisBackend> {
    standalone_with(builder()).await
}

/// A backend on the shared cluster, isolated by its prefix.
#[cfg(feature = "redis")]
pub async fn cluster() -> Option<agent_sessions::redis::RedisBackend> {
    cluster_with(builder()).await
}

/// A name no other test uses: for key prefixes and user ids on the shared servers.
pub fn unique(what: &str) -> String {
    format!("{what}-{}", uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A `redis-server` of the test's own, on a free loopback port, with every write on disk
/// before Redis answers (`appendfsync always`). Killed on drop.
pub struct PrivateRedis {
    bin: String,
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one; `None` (skip) where no server binary is known.
    pub fn start() -> Option<Self> {
        let bin = env("AGENT_SESSIONS_REDIS_SERVER_BIN")?;
        let port = free_port();
        let mut redis = Self {
            bin,
            port,
            dir: tempfile::tempdir().expect("a temp dir"),
            child: None,
        };
        redis.spawn();
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        self.wait_until_it_answers();
    }

    fn wait_until_it_answers(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if ping(self.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis on {} never answered",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            let ok = Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "kill {sig}");
        }
    }

    /// SIGSTOP: the server holds its connections but answers nothing.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Self::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory (after [`Self::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.resume(); // a stopped process must be able to die
        self.kill();
    }
}

/// A port nothing listens on now (and whose cluster bus port, +10000, is free too).
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = l.local_addr().expect("an address").port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Whether a Redis on `port` answers PING (raw RESP, no client library involved).
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
