//! What the `agent-sessions` binary reports and leaves behind: a torn journal tail it dropped
//! (logged), a directory it cannot open (left as it was), a closed stdout (no panic).

#![cfg(all(feature = "server", unix))]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use agent_sessions::{NewSession, SessionStore};

const EXE: &str = env!("CARGO_BIN_EXE_agent-sessions");

/// A directory store with a few sessions and a snapshot.
fn seeded(dir: &Path) {
    let store = SessionStore::builder().autosave(None).open(dir).unwrap();
    for i in 0..3 {
        store
            .create(NewSession::new("u", "a").id(format!("s{i}")))
            .unwrap();
    }
    store.snapshot().unwrap();
    store
        .create(NewSession::new("u", "a").id("after-snapshot"))
        .unwrap();
    store.close().unwrap();
}

/// Starts `serve` on `dir`, reads the first stdout line, sends SIGTERM, and returns (whether
/// it exited cleanly, its stderr).
fn serve_and_stop(dir: &Path, close_stdout_first: bool) -> (bool, String) {
    let mut child = Command::new(EXE)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("listening on "), "{first:?}");
    if close_stdout_first {
        drop(stdout); // as `| head -1` does
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    (status.success(), stderr)
}

#[test]
fn a_torn_journal_tail_dropped_at_open_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    seeded(dir.path());
    let journal = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("journal-")
        })
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(&mut f, br#"{"op":"put","version":99,"rec"#).unwrap();
    drop(f);
    let (clean, stderr) = serve_and_stop(dir.path(), false);
    assert!(clean, "{stderr}");
    assert!(
        stderr.contains("WARN") && stderr.contains("cut short"),
        "no warning for the dropped tail: {stderr}"
    );
}

#[test]
fn a_failed_open_changes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    seeded(dir.path());
    let temp = dir.path().join("manifest.json.tmp");
    std::fs::write(&temp, b"x").unwrap();
    let manifest = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("manifest.json"))
        .unwrap();
    manifest.set_len(100).unwrap();
    drop(manifest);
    let out = Command::new(EXE)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert!(temp.exists(), "the failed open removed {}", temp.display());
}

#[test]
fn a_closed_stdout_never_makes_it_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (clean, stderr) = serve_and_stop(dir.path(), true);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(clean, "{stderr}");
    // Bounded: the store is closed and can be opened again at once.
    let store = SessionStore::builder()
        .lock_timeout(Duration::from_secs(30))
        .open(dir.path())
        .unwrap();
    drop(store);
}
