//! A full disk on a real file system: a small ext4 image mounted through a loop device. ENOSPC
//! in the journal, in a snapshot and in the autosave thread: writes answer 503, reads go on,
//! nothing acknowledged is lost, and the store recovers once space is freed (a poisoned
//! journal by a reopen, as the README says; a failed snapshot by the next one).
//!
//! Needs root and loop devices (`mkfs.ext4`, `mount -o loop`); where the machine does not allow
//! them, each test prints `skipped:` and why (and fails with `AGENT_SESSIONS_REQUIRE_LOOP`
//! set, as in CI).

#![cfg(all(feature = "server", target_os = "linux"))]

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use agent_sessions::{server, SessionStore, StoreError};
use common::{request, send};
use serde_json::{json, Value};

/// A mounted ext4 image, unmounted on drop.
struct SmallDisk {
    _dir: tempfile::TempDir,
    mount: PathBuf,
}

impl SmallDisk {
    /// A `mib` MiB ext4 file system with no blocks reserved for root, or why not.
    fn mount(mib: usize) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let image = dir.path().join("disk.img");
        let mount = dir.path().join("mnt");
        fs::create_dir(&mount).map_err(|e| e.to_string())?;
        fs::File::create(&image)
            .and_then(|f| f.set_len((mib as u64) << 20))
            .map_err(|e| e.to_string())?;
        let run = |cmd: &str, args: &[&std::ffi::OsStr]| -> Result<(), String> {
            let out = Command::new(cmd)
                .args(args)
                .output()
                .map_err(|e| format!("{cmd}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{cmd} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(
            "mkfs.ext4",
            &[
                "-q".as_ref(),
                "-F".as_ref(),
                "-m".as_ref(),
                "0".as_ref(),
                image.as_os_str(),
            ],
        )?;
        run(
            "mount",
            &[
                "-o".as_ref(),
                "loop".as_ref(),
                image.as_os_str(),
                mount.as_os_str(),
            ],
        )?;
        Ok(Self { _dir: dir, mount })
    }

    /// Fills the disk but for about `leave` bytes; returns the filler to remove later.
    fn fill(&self, leave: usize) -> Filler {
        let reserve = self.mount.join("reserve");
        fs::write(&reserve, vec![1u8; leave]).unwrap();
        let path = self.mount.join("filler");
        let mut f = fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let mut size = chunk.len();
        loop {
            match f.write(&chunk[..size]) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) if size > 512 => size /= 2,
                Err(_) => break,
            }
        }
        let _ = f.sync_all();
        drop(f);
        fs::remove_file(&reserve).unwrap();
        Filler(path)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mount)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
    }
}

/// The file that fills the disk.
struct Filler(PathBuf);

impl Filler {
    fn free(self) {
        fs::remove_file(&self.0).unwrap();
    }
}

/// A mounted small disk, or `None` after printing why the test is skipped. With
/// `AGENT_SESSIONS_REQUIRE_LOOP` set (CI), a machine that does not allow it fails the test.
fn disk(test: &str) -> Option<SmallDisk> {
    match SmallDisk::mount(16) {
        Ok(d) => Some(d),
        Err(why) if std::env::var_os("AGENT_SESSIONS_REQUIRE_LOOP").is_some() => {
            panic!("{test}: no loop-mounted ext4 here ({why})")
        }
        Err(why) => {
            eprintln!("skipped: {test}: no loop-mounted ext4 here ({why})");
            None
        }
    }
}

fn open(dir: &Path, autosave: Option<Duration>) -> SessionStore {
    SessionStore::builder()
        .snapshot_shards(4)
        .autosave(autosave)
        .open(dir)
        .unwrap()
}

/// POSTs a session named `name` for agent `agent`; the status and the new id.
async fn create(app: &axum::Router, agent: &str, name: &str) -> (u16, Option<String>) {
    let body = json!({"agent_id": agent, "name": name});
    let got = send(app, request("POST", "/sessions/", Some("u"), Some(&body))).await;
    let id = (got.status == 201).then(|| got.json()["session_id"].as_str().unwrap().to_owned());
    (got.status.as_u16(), id)
}

/// The names of the user's sessions with `agent`, through the server.
async fn names(app: &axum::Router, agent: &str) -> Vec<String> {
    let got = send(
        app,
        request(
            "GET",
            &format!("/sessions/?agent_id={agent}"),
            Some("u"),
            None,
        ),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    let v: Value = got.json();
    let mut n: Vec<String> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["config"]["name"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

/// A store on the small disk with an agent and `n` sessions of `size` bytes each, all
/// acknowledged; their names.
async fn seeded(
    dir: &Path,
    autosave: Option<Duration>,
    n: usize,
    size: usize,
) -> (SessionStore, axum::Router, String, Vec<String>) {
    let store = open(dir, autosave);
    let app = server::router(store.clone());
    let got = send(
        &app,
        request("POST", "/agent/", Some("u"), Some(&json!({"name": "a"}))),
    )
    .await;
    assert_eq!(got.status, 201);
    let agent = got.json()["agent_id"].as_str().unwrap().to_owned();
    let mut acked = Vec::new();
    for i in 0..n {
        let name = format!("{i:03}-{}", "x".repeat(size));
        assert_eq!(create(&app, &agent, &name).await.0, 201);
        acked.push(name);
    }
    (store, app, agent, acked)
}

/// ENOSPC in the journal: the write answers 503, reads go on, later writes answer 503 (the
/// journal is poisoned) even once space is freed, and a reopen recovers: every acknowledged
/// write is there and writes succeed again.
#[tokio::test]
async fn a_full_disk_in_the_journal() {
    let Some(disk) = disk("a_full_disk_in_the_journal") else {
        return;
    };
    let dir = disk.mount.join("data");
    let (store, app, agent, mut acked) = seeded(&dir, None, 20, 100).await;
    let filler = disk.fill(0);
    // Lines are small: the few bytes left in the journal's last block may still take one
    // or two; the disk is full long before 200.
    let mut refused = None;
    for i in 0..200 {
        let name = format!("full-{i}-{}", "y".repeat(2000));
        match create(&app, &agent, &name).await {
            (201, _) => acked.push(name),
            (503, _) => {
                refused = Some(name);
                break;
            }
            (s, _) => panic!("answered {s}"),
        }
    }
    let refused = refused.expect("the full disk never answered 503");
    acked.sort();
    // Reads go on: every acknowledged write, and perhaps the refused one, whose change stays
    // in memory (the README: it may not survive a restart).
    let mut seen = names(&app, &agent).await;
    seen.retain(|n| n != &refused);
    assert!(
        seen == acked,
        "reads after the 503 differ from what was acknowledged"
    );
    let health = send(&app, request("GET", "/healthz", None, None)).await;
    assert_eq!(health.status, 503, "{}", health.text());
    filler.free();
    // Poisoned: refused until a reopen, space or not.
    assert_eq!(create(&app, &agent, "after-free").await.0, 503);
    assert!(matches!(
        store.create(agent_sessions::NewSession::new("u", &agent)),
        Err(StoreError::Poisoned { .. })
    ));
    drop(app);
    drop(store);
    let store = open(&dir, None);
    let app = server::router(store.clone());
    let got = names(&app, &agent).await;
    for name in &acked {
        assert!(got.contains(name), "acknowledged {name} lost");
    }
    assert_eq!(create(&app, &agent, "after-reopen").await.0, 201);
    drop(app);
    store.close().unwrap();
}

/// ENOSPC in a snapshot: the snapshot fails and changes nothing, the journal still holds
/// every write, small writes and reads go on; once space is freed the next snapshot succeeds.
#[tokio::test]
async fn a_full_disk_in_a_snapshot() {
    let Some(disk) = disk("a_full_disk_in_a_snapshot") else {
        return;
    };
    let dir = disk.mount.join("data");
    // 40 sessions of 40 KB: a snapshot needs ~1.6 MB; 256 KiB are left.
    let (store, app, agent, mut acked) = seeded(&dir, None, 40, 40_000).await;
    let filler = disk.fill(256 * 1024);
    let err = store.snapshot().unwrap_err();
    assert!(
        matches!(&err, StoreError::Io { source, .. } if source.raw_os_error() == Some(28)),
        "{err}"
    );
    assert!(store.has_unsaved_changes());
    for i in 0..5 {
        let name = format!("small-{i}");
        assert_eq!(create(&app, &agent, &name).await.0, 201);
        acked.push(name);
    }
    acked.sort();
    assert_eq!(names(&app, &agent).await, acked);
    filler.free();
    store.snapshot().unwrap();
    assert!(!store.has_unsaved_changes());
    drop(app);
    store.close().unwrap();
    let store = open(&dir, None);
    let app = server::router(store.clone());
    assert_eq!(names(&app, &agent).await, acked);
    drop(app);
    store.close().unwrap();
}

/// ENOSPC in the autosave thread: it fails and tries again; reads go on meanwhile, and so do
/// writes, unless a failing snapshot's temp file took the space the journal needed at that
/// moment (then the journal is poisoned, as on a full disk). Once space is freed an autosave
/// succeeds (or, poisoned, a reopen recovers), and every acknowledged write survives.
#[tokio::test]
async fn a_full_disk_in_the_autosave_thread() {
    let Some(disk) = disk("a_full_disk_in_the_autosave_thread") else {
        return;
    };
    let dir = disk.mount.join("data");
    let autosave = Some(Duration::from_millis(50));
    let (store, app, agent, mut acked) = seeded(&dir, autosave, 0, 0).await;
    for i in 0..40 {
        let name = format!("{i:03}-{}", "x".repeat(40_000));
        assert_eq!(create(&app, &agent, &name).await.0, 201);
        acked.push(name);
    }
    let filler = disk.fill(256 * 1024);
    // Several autosave rounds on the full disk (each must rewrite the 1.6 MB shard), with
    // small writes between them.
    let mut refused = None;
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        let name = format!("small-{i}");
        match create(&app, &agent, &name).await.0 {
            201 => acked.push(name),
            503 => {
                refused = Some(name);
                break;
            }
            s => panic!("answered {s}"),
        }
    }
    acked.sort();
    let mut seen = names(&app, &agent).await;
    seen.retain(|n| Some(n) != refused.as_ref());
    assert!(seen == acked, "reads differ from what was acknowledged");
    assert!(store.has_unsaved_changes(), "no autosave can succeed yet");
    filler.free();
    let store = if refused.is_some() {
        // Poisoned: the reopen is the recovery.
        drop(app);
        drop(store);
        open(&dir, autosave)
    } else {
        let start = Instant::now();
        while store.has_unsaved_changes() && start.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            !store.has_unsaved_changes(),
            "no autosave succeeded after space was freed"
        );
        drop(app);
        store
    };
    store.close().unwrap();
    let store = open(&dir, None);
    let app = server::router(store.clone());
    let mut seen = names(&app, &agent).await;
    seen.retain(|n| Some(n) != refused.as_ref());
    assert!(seen == acked, "an acknowledged write was lost");
    assert_eq!(create(&app, &agent, "after").await.0, 201);
    drop(app);
    store.close().unwrap();
}
