//! A soak run of the `agent-sessions` binary on a durable directory, on loopback only, for a
//! bounded time: clients make a mix of writes and reads while the server is killed (`SIGKILL`) and
//! restarted at random moments (in the first 60% of the run; the rest is one steady server
//! whose memory and descriptors are watched for an upward trend). At the end it checks that
//! every acknowledged write is there, that each list's `total` is its length and that lists are
//! newest first, and prints the figures. Exits non-zero if a check fails.
//!
//! ```text
//! cargo build --features server --bin agent-sessions --example soak
//! target/debug/examples/soak target/debug/agent-sessions 600   # seconds; scripts/soak.sh
//! ```

// Figures for a report (sizes as floats), and one main that reads as the run it makes.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::too_many_lines
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Sessions a client keeps at most, so the data (and memory) reaches a steady state.
const MAX_LIVE: usize = 150;
const CLIENTS: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(bin), Some(seconds)) = (args.get(1), args.get(2).and_then(|s| s.parse().ok())) else {
        eprintln!("usage: soak <agent-sessions binary> <seconds>");
        std::process::exit(2);
    };
    let seconds: u64 = seconds;
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = Arc::new(Mutex::new(Server::start(bin, dir.path(), None)));
    let addr = server.lock().unwrap().addr;
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let kills_until = start + Duration::from_secs(seconds * 6 / 10);
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (stop, ops, failures) =
                (Arc::clone(&stop), Arc::clone(&ops), Arc::clone(&failures));
            std::thread::spawn(move || {
                let mut client = Client::new(addr, c);
                while !stop.load(Ordering::Acquire) {
                    if let Err(e) = client.step() {
                        failures.lock().unwrap().push(e);
                    }
                    ops.fetch_add(1, Ordering::Relaxed);
                }
                client
            })
        })
        .collect();

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let mut samples: Vec<(f64, u32, usize, usize)> = Vec::new(); // (t, generation, rss, fds)
    let mut kills = 0u32;
    let mut next_kill = start + Duration::from_millis(1000 + rng.below(4000));
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(500));
        let now = Instant::now();
        let mut s = server.lock().unwrap();
        if now >= next_kill && now < kills_until {
            s.kill();
            kills += 1;
            *s = Server::start(bin, dir.path(), Some(addr));
            next_kill = now + Duration::from_millis(1000 + rng.below(6000));
        }
        if let Some((rss, fds)) = s.usage() {
            samples.push((start.elapsed().as_secs_f64(), kills, rss, fds));
        }
    }
    stop.store(true, Ordering::Release);
    let clients: Vec<Client> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let total_ops = ops.load(Ordering::Relaxed);

    // A clean stop, a restart, and every client's view checked against what the server has.
    server.lock().unwrap().terminate();
    let last = Server::start(bin, dir.path(), Some(addr));
    let mut failures = failures.lock().unwrap().clone();
    for client in &clients {
        if let Err(e) = client.verify() {
            failures.push(e);
        }
    }
    drop(last);

    // The trend: the steady part (after the last kill), its first quarter left out as warm-up.
    let steady: Vec<_> = samples.iter().filter(|s| s.1 == kills).collect();
    let warm = steady.len() / 4;
    let steady = &steady[warm..];
    let third = (steady.len() / 3).max(1);
    let mean = |xs: &[&(f64, u32, usize, usize)], f: fn(&(f64, u32, usize, usize)) -> usize| {
        xs.iter().map(|s| f(s)).sum::<usize>() as f64 / xs.len().max(1) as f64
    };
    let (first, last_third) = (
        &steady[..third.min(steady.len())],
        &steady[steady.len().saturating_sub(third)..],
    );
    let rss_first = mean(first, |s| s.2) / 1_048_576.0;
    let rss_last = mean(last_third, |s| s.2) / 1_048_576.0;
    let fds_first = mean(first, |s| s.3);
    let fds_last = mean(last_third, |s| s.3);
    let max_rss = samples.iter().map(|s| s.2).max().unwrap_or(0) / 1_048_576;
    let max_fds = samples.iter().map(|s| s.3).max().unwrap_or(0);
    let acked: usize = clients.iter().map(|c| c.acked).sum();
    let live: usize = clients.iter().map(|c| c.live.len()).sum();
    println!("soak: {seconds} s, {CLIENTS} clients, {total_ops} requests, {acked} acknowledged writes, {kills} SIGKILLs and restarts");
    println!("soak: {live} sessions at the end, every acknowledged write checked after a restart");
    println!(
        "soak: steady server ({} samples after warm-up): RSS {rss_first:.1} -> {rss_last:.1} MiB, fds {fds_first:.1} -> {fds_last:.1}; peak RSS {max_rss} MiB, peak fds {max_fds}",
        steady.len()
    );
    if steady.len() >= 6 {
        if rss_last > rss_first * 1.25 + 8.0 {
            failures.push(format!("RSS grows: {rss_first:.1} -> {rss_last:.1} MiB"));
        }
        if fds_last > fds_first + 16.0 {
            failures.push(format!("fds grow: {fds_first:.1} -> {fds_last:.1}"));
        }
    } else {
        println!(
            "soak: too few steady samples for a trend ({}); run longer",
            steady.len()
        );
    }
    failures.sort();
    failures.dedup();
    if failures.is_empty() {
        println!("soak: ok");
    } else {
        for f in failures.iter().take(20) {
            println!("soak: FAILED: {f}");
        }
        println!("soak: {} failures", failures.len());
        std::process::exit(1);
    }
}

/// The server process.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(bin: &str, dir: &std::path::Path, addr: Option<SocketAddr>) -> Self {
        let listen = addr.map_or_else(|| "127.0.0.1:0".to_owned(), |a| a.to_string());
        for _ in 0..100 {
            let mut child = Command::new(bin)
                .args(["serve", "--log", "warn", "--addr", &listen, "--data-dir"])
                .arg(dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("the server starts");
            let mut line = String::new();
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let _ = out.read_line(&mut line);
            if let Some(a) = line.trim().strip_prefix("listening on http://") {
                // Keep reading stdout so the server never blocks on it.
                std::thread::spawn(move || for _ in out.lines() {});
                return Self {
                    child,
                    addr: a.parse().unwrap(),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100)); // the port, not yet free
        }
        panic!("the server did not start on {listen}");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Resident memory (bytes) and open descriptors of the server now.
    fn usage(&self) -> Option<(usize, usize)> {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse::<usize>()
            .ok()?
            * 1024;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        Some((rss, fds))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One client: its own user and agent, and what the server acknowledged to it.
struct Client {
    addr: SocketAddr,
    conn: Option<TcpStream>,
    user: String,
    agent: Option<String>,
    /// Live sessions: id -> the last name acknowledged, and the names sent since but not
    /// answered (any of them may have been applied).
    live: HashMap<String, (String, Vec<String>)>,
    /// Sessions whose delete was sent but not answered: there or not.
    maybe_deleted: HashMap<String, (String, Vec<String>)>,
    /// Names of creates sent but not answered: such sessions may exist.
    maybe_created: Vec<String>,
    acked: usize,
    n: u64,
    rng: Rng,
}

type Reply = Result<(u16, Value), String>;

impl Client {
    fn new(addr: SocketAddr, c: usize) -> Self {
        Self {
            addr,
            conn: None,
            user: format!("soak-user-{c}"),
            agent: None,
            live: HashMap::new(),
            maybe_deleted: HashMap::new(),
            maybe_created: Vec::new(),
            acked: 0,
            n: 0,
            rng: Rng(0x2545_f491_4f6c_dd1d ^ (c as u64 + 1)),
        }
    }

    /// One request; an I/O failure (the server killed) drops the connection.
    fn call(&mut self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let result = self.try_call(method, path, body);
        if result.is_err() {
            self.conn = None;
            std::thread::sleep(Duration::from_millis(50));
        }
        result
    }

    fn try_call(&mut self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(30))).ok();
            self.conn = Some(s);
        }
        let s = self.conn.as_mut().unwrap();
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: soak\r\nx-user-id: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            self.user,
            bytes.len()
        );
        s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        s.write_all(&bytes).map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
        let mut status_line = String::new();
        if reader
            .read_line(&mut status_line)
            .map_err(|e| e.to_string())?
            == 0
        {
            return Err("closed".into());
        }
        let status: u16 = status_line
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let mut len = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("closed in the head".into());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        if !reader.buffer().is_empty() {
            return Err("bytes after the answer".into());
        }
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| format!("{e}: {status}"))?
        };
        Ok((status, value))
    }

    fn step(&mut self) -> Result<(), String> {
        let Some(agent) = self.agent.clone() else {
            if let Ok((201, v)) = self.call("POST", "/agent/", Some(&json!({"name": "soak"}))) {
                self.agent = v["agent_id"].as_str().map(str::to_owned);
            }
            return Ok(());
        };
        self.n += 1;
        let name = format!("n{}", self.n);
        let pick = self.rng.below(100);
        let any_live = if self.live.is_empty() {
            None
        } else {
            let k = self.rng.below(self.live.len() as u64) as usize;
            self.live.keys().nth(k).cloned()
        };
        match (pick, any_live) {
            (0..=29, _) if self.live.len() < MAX_LIVE => {
                let body = json!({"agent_id": agent, "name": name});
                match self.call("POST", "/sessions/", Some(&body)) {
                    Ok((201, v)) => {
                        let id = v["session_id"].as_str().unwrap_or_default().to_owned();
                        self.live.insert(id, (name, Vec::new()));
                        self.acked += 1;
                    }
                    Ok((s, v)) => return Err(format!("create answered {s}: {v}")),
                    Err(_) => self.maybe_created.push(name),
                }
            }
            (0..=49, Some(id)) => {
                let path = format!("/sessions/{id}?agent_id={agent}");
                match self.call("PATCH", &path, Some(&json!({"name": name}))) {
                    Ok((200, _)) => {
                        self.live.insert(id, (name, Vec::new()));
                        self.acked += 1;
                    }
                    Ok((s, v)) => return Err(format!("patch {id} answered {s}: {v}")),
                    Err(_) => {
                        if let Some(e) = self.live.get_mut(&id) {
                            e.1.push(name);
                        }
                    }
                }
            }
            (0..=64, Some(id)) => {
                let path = format!("/sessions/{id}?agent_id={agent}");
                match self.call("DELETE", &path, None) {
                    Ok((204, _)) => {
                        self.live.remove(&id);
                        self.acked += 1;
                    }
                    Ok((s, v)) => return Err(format!("delete {id} answered {s}: {v}")),
                    Err(_) => {
                        if let Some(e) = self.live.remove(&id) {
                            self.maybe_deleted.insert(id, e);
                        }
                    }
                }
            }
            _ => {
                if let Ok((status, v)) =
                    self.call("GET", &format!("/sessions/?agent_id={agent}"), None)
                {
                    if status != 200 {
                        return Err(format!("list answered {status}: {v}"));
                    }
                    self.check_list(&v, false)?;
                }
            }
        }
        Ok(())
    }

    /// `total` is the list's length; newest first; every acknowledged session there with an
    /// acknowledged (or since sent) name; nothing else but what may have been created.
    fn check_list(&self, v: &Value, strict_unknowns: bool) -> Result<(), String> {
        let sessions = v["sessions"].as_array().ok_or("no sessions")?;
        if v["total"].as_u64() != Some(sessions.len() as u64) {
            return Err(format!(
                "total {} but {} sessions",
                v["total"],
                sessions.len()
            ));
        }
        let created: Vec<&str> = sessions
            .iter()
            .map(|s| s["created_at"].as_str().unwrap_or_default())
            .collect();
        if created.windows(2).any(|w| w[0] < w[1]) {
            return Err("the list is not newest first".into());
        }
        let found: HashMap<&str, &str> = sessions
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap_or_default(),
                    s["config"]["name"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        for (id, (name, pending)) in &self.live {
            match found.get(id.as_str()) {
                None => return Err(format!("acknowledged session {id} is missing")),
                Some(got) if got != name && !pending.iter().any(|p| p == got) => {
                    // A list made concurrently with this client's own writes cannot be
                    // stale: writes are sequential per client.
                    return Err(format!("session {id} is named {got}, acknowledged {name}"));
                }
                Some(_) => {}
            }
        }
        if strict_unknowns {
            for (id, name) in &found {
                let known = self.live.contains_key(*id)
                    || self.maybe_deleted.contains_key(*id)
                    || self.maybe_created.iter().any(|n| n == name);
                if !known {
                    return Err(format!("session {id} ({name}) was never acknowledged"));
                }
            }
        }
        Ok(())
    }

    /// After the final restart: the whole list checked.
    fn verify(&self) -> Result<(), String> {
        let Some(agent) = &self.agent else {
            return Ok(());
        };
        let mut me = Client::new(self.addr, 0);
        me.user.clone_from(&self.user);
        for _ in 0..50 {
            if let Ok((200, v)) = me.call("GET", &format!("/sessions/?agent_id={agent}"), None) {
                return self
                    .check_list(&v, true)
                    .map_err(|e| format!("{}: {e}", self.user));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{}: the list never answered after the restart",
            self.user
        ))
    }
}

/// xorshift64.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}
