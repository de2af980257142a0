//! The server's limits, against the binary over raw sockets: what a hostile body may cost in
//! memory (`VmHWM`), stalled request heads, connections beyond the open-file limit, and a
//! graceful stop that stalled clients cannot hold up.

#![cfg(all(feature = "server", target_os = "linux"))]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

mod common;

use common::binary::Binary;

const MIB: usize = 1 << 20;

fn addr(server: &Binary) -> SocketAddr {
    server
        .base
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap()
}

/// The peak resident memory of a process, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("a VmHWM line");
    let kb: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb * 1024
}

/// Sends one request on a new connection and returns the answer's status (`None` when the
/// connection failed before an answer).
fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nx-user-id: u\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    // The server may answer (and close) before it has read everything.
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|()| s.write_all(body));
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Waits (up to `limit`) until `f` holds.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Bodies of the default limit (16 MiB): made of the smallest values JSON has (refused before
/// they are parsed), and one as dense as a body may be and still be stored (64-character
/// strings: stored, its parse within the limit).
fn big_bodies() -> Vec<(&'static str, &'static str, u16, Vec<u8>)> {
    let len = 16 * MIB;
    let fill = |open: &[u8], item: &[u8], close: &[u8]| {
        let n = (len - open.len() - close.len()) / (item.len() + 1);
        let mut b = open.to_vec();
        for i in 0..n {
            if i > 0 {
                b.push(b',');
            }
            b.extend_from_slice(item);
        }
        b.extend_from_slice(close);
        b
    };
    let schema = br#"{"name":"a","context_config":{"summary_schema":{"x":["#;
    let string64 = format!("\"{}\"", "s".repeat(64));
    vec![
        ("an array of zeros", "/agent/", 413, fill(b"[", b"0", b"]")),
        (
            "an array of empty arrays",
            "/agent/",
            413,
            fill(b"[", b"[]", b"]"),
        ),
        (
            "an array of empty strings",
            "/agent/",
            413,
            fill(b"[", b"\"\"", b"]"),
        ),
        (
            "an agent whose summary schema holds zeros",
            "/agent/",
            413,
            fill(schema, b"0", b"]}}}"),
        ),
        (
            "a session whose parameters hold a dict of short strings",
            "/sessions/",
            413,
            fill(
                br#"{"agent_id":"a","chat_model_config":{"type":"t","credential_id":"c","model":"m","parameters":{"#,
                br#""k":"v""#,
                b"}}}",
            ),
        ),
        (
            "an agent whose summary schema holds 64-character strings",
            "/agent/",
            201,
            fill(schema, string64.as_bytes(), b"]}}}"),
        ),
    ]
}

/// A 16 MiB body of the smallest values took 108 times its size before its 422; now the
/// server's peak memory stays within 8 times the body, and eight at once leave it answering.
#[test]
fn big_bodies_cost_at_most_a_small_multiple_of_their_size() {
    let server = Binary::start(&[]);
    let addr = addr(&server);
    let pid = server.pid();
    let bodies = big_bodies();
    for (what, path, expected, body) in &bodies {
        // What is stored stays: the body that is, in a server of its own.
        let own = (*expected == 201).then(|| Binary::start(&[]));
        let (addr, pid) = own
            .as_ref()
            .map_or((addr, pid), |s| (self::addr(s), s.pid()));
        let status = request(addr, "POST", path, body);
        let peak = peak_rss(pid);
        eprintln!("{what}: {status:?}, peak RSS {} MiB", peak / MIB);
        assert_eq!(status, Some(*expected), "{what}");
        assert!(
            peak <= 8 * body.len(),
            "{what}: peak RSS {} MiB for a body of {} MiB",
            peak / MIB,
            body.len() / MIB
        );
        if let Some(own) = own {
            own.terminate();
        }
    }
    let zeros = std::sync::Arc::new(bodies.into_iter().next().unwrap().3);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let zeros = std::sync::Arc::clone(&zeros);
            std::thread::spawn(move || request(addr, "POST", "/agent/", &zeros))
        })
        .collect();
    for client in clients {
        let status = client.join().unwrap();
        assert!(
            matches!(status, None | Some(413 | 503)),
            "answered {status:?}"
        );
    }
    assert_eq!(request(addr, "GET", "/healthz", b""), Some(200));
    let peak = peak_rss(pid);
    eprintln!("eight at once: peak RSS {} MiB", peak / MIB);
    // The bodies' budget (256 MiB by default) and what the process holds besides.
    assert!(peak <= 320 * MIB, "peak RSS {} MiB", peak / MIB);
    server.terminate();
}

/// A client that sends part of a head and stalls.
fn stall(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-us")
        .unwrap();
    s
}

/// Whether the server closed `s` (a read answers end of file, or an error), waiting for it
/// up to `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

#[test]
fn a_stalled_request_head_is_closed_after_the_head_timeout() {
    let server = Binary::start(&["--request-head-timeout", "0.5"]);
    let mut s = stall(addr(&server));
    assert!(
        closed_within(&mut s, Duration::from_secs(30)),
        "a stalled head was never closed"
    );
    server.terminate();
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let server = Binary::start(&["--idle-timeout", "0.5", "--request-head-timeout", "600"]);
    let mut s = TcpStream::connect(addr(&server)).unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(30)),
        "an idle connection was never closed"
    );
    server.terminate();
}

/// With 64 open files, 100 stalled clients used to stop all service; now the server stops
/// accepting at its connection limit and closes stalled heads, so a healthy client is served.
#[test]
fn stalled_clients_beyond_the_open_file_limit_do_not_stop_service() {
    let server = Binary::start_under(
        &["prlimit", "--nofile=64:64"],
        &["--max-connections", "32", "--request-head-timeout", "1"],
    );
    let addr = addr(&server);
    let stalled: Vec<TcpStream> = (0..100)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-us");
            Some(s)
        })
        .collect();
    assert!(stalled.len() >= 64, "only {} connections", stalled.len());
    assert!(
        eventually(Duration::from_secs(60), || request(
            addr, "GET", "/healthz", b""
        ) == Some(200)),
        "no answer while stalled clients hold connections"
    );
    drop(stalled);
    server.terminate();
}

/// SIGTERM with a stalled client, an idle keep-alive client and a body half sent: the server
/// stops (within its shutdown timeout) and a durable store keeps what was acknowledged.
#[test]
fn sigterm_stops_the_server_whatever_its_clients_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = Binary::start(&["--data-dir", data, "--shutdown-timeout", "1"]);
    let addr = addr(&server);
    assert_eq!(
        request(addr, "POST", "/agent/", br#"{"name":"kept"}"#),
        Some(201)
    );
    let _stalled = stall(addr);
    let _idle = TcpStream::connect(addr).unwrap();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(
        b"POST /agent/ HTTP/1.1\r\nHost: x\r\nx-user-id: u\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"name\":",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200)); // let the server read what was sent
    server.terminate(); // fails unless "stopped" comes and the exit is clean
    let server = Binary::start(&["--data-dir", data]);
    let mut s = TcpStream::connect(addr_of(&server)).unwrap();
    s.write_all(b"GET /agent/ HTTP/1.1\r\nHost: x\r\nx-user-id: u\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.contains(r#""name":"kept""#), "{answer}");
    server.terminate();
}

fn addr_of(server: &Binary) -> SocketAddr {
    addr(server)
}

/// A body that does not arrive in full within the body read timeout answers 408.
#[test]
fn a_body_that_stalls_answers_408() {
    let server = Binary::start(&["--body-read-timeout", "0.5"]);
    let mut s = TcpStream::connect(addr(&server)).unwrap();
    s.write_all(
        b"POST /agent/ HTTP/1.1\r\nHost: x\r\nx-user-id: u\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"name\":",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    server.terminate();
}

/// A request in flight when SIGTERM comes (its body half sent) finishes and is answered;
/// then the server stops.
#[test]
fn a_request_in_flight_at_sigterm_finishes() {
    let server = Binary::start(&["--shutdown-timeout", "60"]);
    let mut s = TcpStream::connect(addr(&server)).unwrap();
    let body = br#"{"name":"finished"}"#;
    let head = format!(
        "POST /agent/ HTTP/1.1\r\nHost: x\r\nx-user-id: u\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(300)); // the head is read: the request is in flight
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(&body[5..]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(
        server.next_line(Duration::from_secs(60)).as_deref(),
        Some("stopped")
    );
}

/// Bodies declared large but sent slowly hold only what they sent against the bodies'
/// budget: they cannot make every other body answer 503.
#[test]
fn slow_bodies_hold_only_what_they_sent() {
    let server = Binary::start(&[
        "--max-body-bytes",
        "1048576",
        "--max-body-memory",
        "2097152",
    ]);
    let addr = addr(&server);
    let slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(
                b"POST /agent/ HTTP/1.1\r\nHost: x\r\nx-user-id: u\r\n\
                  content-type: application/json\r\ncontent-length: 1048576\r\n\r\n{\"name\":",
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300)); // the server reads what was sent
    assert_eq!(
        request(addr, "POST", "/agent/", br#"{"name":"served"}"#),
        Some(201)
    );
    drop(slow);
    server.terminate();
}
