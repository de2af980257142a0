//! Durability: what a durable store keeps across a reopen, how it treats damaged files, its
//! lock, temp-file cleanup, incremental snapshots, and export/import.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_sessions::{FsyncPolicy, ListQuery, NewSession, Order, SessionStore, StoreError};
use tempfile::TempDir;

fn open(dir: &Path) -> SessionStore {
    SessionStore::builder()
        .snapshot_shards(4)
        .autosave(None)
        .open(dir)
        .unwrap()
}

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// Every file of the directory and its bytes.
fn dir_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "LOCK")
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn seeded(dir: &Path) -> (SessionStore, Vec<String>) {
    let store = open(dir);
    let ids = (0..20)
        .map(|i| {
            store
                .create(NewSession::new(format!("user-{}", i % 3), "agent").name(format!("n{i}")))
                .unwrap()
                .id
                .clone()
        })
        .collect();
    (store, ids)
}

#[test]
fn journal_alone_restores_every_write() {
    let dir = TempDir::new().unwrap();
    let (store, ids) = seeded(dir.path());
    store
        .update("user-0", "agent", &ids[0], |r| {
            r.config.name = "changed".into();
        })
        .unwrap();
    store.delete("user-1", "agent", &ids[1]).unwrap();
    store.delete_all("user-2").unwrap();
    let v0 = store.get_versioned("user-0", "agent", &ids[0]).unwrap();
    let page = store.list(&ListQuery::new("user-0", "agent").order(Order::UpdatedDesc));
    assert!(
        files(dir.path(), "manifest").is_empty(),
        "no snapshot was taken"
    );
    drop(store);

    let store = open(dir.path());
    let r = store.recovery().unwrap();
    assert_eq!(r.snapshot_sessions, 0);
    assert_eq!(r.journal_ops, 20 + 3);
    assert_eq!(r.torn_tail, None);
    assert_eq!(store.get_versioned("user-0", "agent", &ids[0]).unwrap(), v0);
    assert!(store.get("user-1", "agent", &ids[1]).is_none());
    assert_eq!(store.count("user-2", "agent"), 0);
    assert_eq!(store.len(), 20 - 1 - 6);
    assert_eq!(
        store.list(&ListQuery::new("user-0", "agent").order(Order::UpdatedDesc)),
        page
    );
    // Versions continue above every version loaded.
    let v = store
        .update_if_version("user-0", "agent", &ids[0], v0.version, |r| {
            r.config.name = "again".into();
        })
        .unwrap();
    assert!(v.version > v0.version);
}

#[test]
fn snapshot_then_journal_restores_and_old_files_go() {
    let dir = TempDir::new().unwrap();
    let (store, ids) = seeded(dir.path());
    let report = store.snapshot().unwrap();
    assert_eq!(report.sessions_written, 20);
    assert_eq!(report.shards_written + report.shards_unchanged, 4);
    assert_eq!(
        files(dir.path(), "journal-").len(),
        1,
        "the covered journal is removed"
    );
    store
        .update("user-0", "agent", &ids[3], |r| {
            r.config.name = "after".into();
        })
        .unwrap();
    store.delete("user-1", "agent", &ids[4]).unwrap();
    let second = store.snapshot().unwrap();
    assert!(second.shards_unchanged >= 2, "{second:?}");
    store
        .create(NewSession::new("late", "agent").id("late"))
        .unwrap();
    drop(store);

    let store = open(dir.path());
    let r = store.recovery().unwrap();
    assert_eq!((r.snapshot_sessions, r.journal_ops), (19, 1));
    assert_eq!(
        store.get("user-0", "agent", &ids[3]).unwrap().config.name,
        "after"
    );
    assert!(store.get("user-1", "agent", &ids[4]).is_none());
    assert!(store.get("late", "agent", "late").is_some());
    assert_eq!(store.len(), 20);
    // Only the manifest's shard files are left.
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let named: Vec<String> = manifest["shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["file"].as_str().map(str::to_owned))
        .collect();
    let present: Vec<String> = files(dir.path(), "shard-")
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    let mut named_sorted = named.clone();
    named_sorted.sort();
    assert_eq!(present, named_sorted);
}

#[test]
fn an_unchanged_shard_is_not_rewritten() {
    let dir = TempDir::new().unwrap();
    let store = SessionStore::builder()
        .snapshot_shards(16)
        .autosave(None)
        .open(dir.path())
        .unwrap();
    for i in 0..200 {
        store.create(NewSession::new(format!("u{i}"), "a")).unwrap();
    }
    store.snapshot().unwrap();
    let before = files(dir.path(), "shard-");
    let bytes_before: Vec<Vec<u8>> = before.iter().map(|p| fs::read(p).unwrap()).collect();
    store.create(NewSession::new("u7", "a")).unwrap();
    let report = store.snapshot().unwrap();
    assert_eq!((report.shards_written, report.shards_unchanged), (1, 15));
    assert!(
        report.sessions_written >= 2,
        "the rewritten shard holds both of u7's sessions"
    );
    let after = files(dir.path(), "shard-");
    let kept: Vec<&PathBuf> = before.iter().filter(|p| after.contains(p)).collect();
    assert_eq!(kept.len(), 15, "15 shard files kept as they were");
    for (p, b) in before.iter().zip(&bytes_before) {
        if after.contains(p) {
            assert_eq!(&fs::read(p).unwrap(), b);
        }
    }
    // Nothing changed: a snapshot writes no shard at all.
    let idle = store.snapshot().unwrap();
    assert_eq!((idle.shards_written, idle.sessions_written), (0, 0));
    assert!(!store.has_unsaved_changes());
}

#[test]
fn a_torn_last_line_is_dropped_and_reported() {
    let dir = TempDir::new().unwrap();
    let (store, ids) = seeded(dir.path());
    drop(store);
    let journal = files(dir.path(), "journal-").pop().unwrap();
    let good_len = fs::metadata(&journal).unwrap().len();
    let mut f = fs::OpenOptions::new().append(true).open(&journal).unwrap();
    f.write_all(br#"{"op":"put","version":99,"record":{"id":"to"#)
        .unwrap();
    drop(f);

    let store = open(dir.path());
    let torn = store.recovery().unwrap().torn_tail.expect("reported");
    assert_eq!(torn.path, journal);
    assert_eq!(torn.line, 22, "line 1 is the journal's header");
    assert_eq!(fs::metadata(&journal).unwrap().len(), good_len, "cut off");
    assert_eq!(store.len(), 20);
    assert!(store.get("user-0", "agent", &ids[0]).is_some());
    // The store goes on writing after the cut, and those writes survive too.
    store
        .create(NewSession::new("after", "agent").id("after"))
        .unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.recovery().unwrap().torn_tail, None);
    assert!(store.get("after", "agent", "after").is_some());
    assert_eq!(store.len(), 21);
}

#[test]
fn damage_before_the_last_line_is_an_error_that_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let (store, _) = seeded(dir.path());
    drop(store);
    let journal = files(dir.path(), "journal-").pop().unwrap();
    let text = fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[4] = r#"{"op":"put","version":5,"rec"#;
    fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let before = dir_bytes(dir.path());

    let err = SessionStore::open(dir.path()).unwrap_err();
    match &err {
        StoreError::Corrupt { path, line, .. } => {
            assert_eq!(path, &journal);
            assert_eq!(*line, 5);
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    assert!(err.to_string().contains("line 5"), "{err}");
    // serde_json's own position counts within the line: it must not be quoted as the file's.
    assert!(!err.to_string().contains("at line 1"), "{err}");
    assert_eq!(dir_bytes(dir.path()), before, "no file was changed");
}

/// The open that fails on a damaged manifest says nothing was changed: temp files of
/// interrupted writes stay too, until an open that succeeds.
#[test]
fn a_failed_open_leaves_temp_files_alone() {
    let dir = TempDir::new().unwrap();
    let (store, _) = seeded(dir.path());
    store.snapshot().unwrap();
    drop(store);
    let temp = dir.path().join("manifest.json.tmp");
    fs::write(&temp, b"x").unwrap();
    let manifest = fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("manifest.json"))
        .unwrap();
    manifest.set_len(100).unwrap();
    drop(manifest);
    let before = dir_bytes(dir.path());
    let err = SessionStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(temp.exists(), "the temp file was removed by a failed open");
    assert_eq!(dir_bytes(dir.path()), before, "no file was changed");
}

#[test]
fn damaged_truncated_or_unknown_snapshots_are_typed_errors() {
    let make = || {
        let dir = TempDir::new().unwrap();
        let (store, _) = seeded(dir.path());
        store.snapshot().unwrap();
        drop(store);
        dir
    };

    // A truncated shard file.
    let dir = make();
    let shard = files(dir.path(), "shard-")
        .into_iter()
        .find(|p| fs::metadata(p).unwrap().len() > 200)
        .unwrap();
    let bytes = fs::read(&shard).unwrap();
    fs::write(&shard, &bytes[..bytes.len() / 2]).unwrap();
    let before = dir_bytes(dir.path());
    let err = SessionStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { path, line, column, .. } if path == &shard && *line >= 1 && *column >= 1),
        "{err}"
    );
    assert_eq!(dir_bytes(dir.path()), before);

    // A record that is not a record.
    let dir = make();
    let shard = files(dir.path(), "shard-")
        .into_iter()
        .find(|p| fs::metadata(p).unwrap().len() > 200)
        .unwrap();
    let text = fs::read_to_string(&shard)
        .unwrap()
        .replacen("\"user_id\"", "\"user_idx\"", 1);
    fs::write(&shard, text).unwrap();
    let err = SessionStore::open(dir.path()).unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("user_id"), "{err}");

    // A manifest that is not JSON.
    let dir = make();
    let manifest = dir.path().join("manifest.json");
    fs::write(
        &manifest,
        b"{\"format\": \"agent-sessions/manifest\",\n  \"version\": 1,\n  oops",
    )
    .unwrap();
    let err = SessionStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { path, line: 3, .. } if path == &manifest),
        "{err}"
    );

    // A format version from the future.
    let dir = make();
    let text = fs::read_to_string(manifest_path(&dir))
        .unwrap()
        .replace("\"version\": 2", "\"version\": 7");
    fs::write(manifest_path(&dir), text).unwrap();
    let before = dir_bytes(dir.path());
    let err = SessionStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::UnsupportedVersion {
                found: 7,
                supported: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(dir_bytes(dir.path()), before);

    // A shard file the manifest names but that is gone.
    let dir = make();
    let shard = files(dir.path(), "shard-").pop().unwrap();
    fs::remove_file(&shard).unwrap();
    let err = SessionStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { path, .. } if path == &shard),
        "a missing shard is damage naming it, not a disk failure: {err}"
    );
    assert!(err.to_string().contains("missing"), "{err}");
}

/// A manifest that names a path, not a file of the directory, is damage to the manifest: the
/// store never reads outside its directory.
#[test]
fn a_manifest_naming_a_path_is_damaged() {
    let dir = TempDir::new().unwrap();
    let (store, _) = seeded(dir.path());
    store.snapshot().unwrap();
    drop(store);
    let manifest = manifest_path(&dir);
    let text = fs::read_to_string(&manifest).unwrap();
    let shard = files(dir.path(), "shard-").pop().unwrap();
    let name = shard.file_name().unwrap().to_str().unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::copy(&shard, outside.join(name)).unwrap();
    fs::write(&manifest, text.replace(name, &format!("outside/{name}"))).unwrap();
    let err = SessionStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { path, .. } if path == &manifest),
        "{err}"
    );
}

fn manifest_path(dir: &TempDir) -> PathBuf {
    dir.path().join("manifest.json")
}

#[test]
fn one_store_at_a_time_owns_a_directory() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let no_wait = || {
        SessionStore::builder()
            .lock_timeout(Duration::ZERO)
            .open(dir.path())
    };
    let err = no_wait().unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    // A clone is the same store, not a second owner.
    let clone = store.clone();
    drop(store);
    assert!(matches!(no_wait(), Err(StoreError::Locked { .. })));
    drop(clone);
    open(dir.path());
}

/// A lock held a moment after a store closed (by a process forked meanwhile, which holds a
/// copy of the descriptor until it execs) made the reopen fail; the open now waits for it.
#[test]
fn an_open_waits_for_a_lock_released_meanwhile() {
    let dir = TempDir::new().unwrap();
    drop(open(dir.path()));
    // A second open file description stands in for the forked child's copy.
    let held = fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("LOCK"))
        .unwrap();
    held.try_lock().unwrap();
    let (locked, release) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _ = release.recv();
        std::thread::sleep(Duration::from_millis(100));
        drop(held);
    });
    locked.send(()).unwrap();
    let store = SessionStore::builder()
        .lock_timeout(Duration::from_secs(60))
        .autosave(None)
        .open(dir.path())
        .expect("the open waits for the lock");
    holder.join().unwrap();
    drop(store);
}

#[test]
fn another_process_cannot_open_a_locked_directory() {
    // flock is per open file description, so a second open in this process stands in for
    // another process; `crash.rs` holds a lock from a real child process.
    let dir = TempDir::new().unwrap();
    let _store = open(dir.path());
    let lock = fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("LOCK"))
        .unwrap();
    assert!(lock.try_lock().is_err());
}

#[test]
fn temp_files_of_interrupted_writes_are_removed() {
    let dir = TempDir::new().unwrap();
    drop(seeded(dir.path()));
    fs::write(dir.path().join("manifest.json.tmp"), b"half a manif").unwrap();
    fs::write(
        dir.path().join("shard-0001-0000000000000009.json.tmp"),
        b"{",
    )
    .unwrap();
    let store = open(dir.path());
    let mut removed = store.recovery().unwrap().temp_files_removed;
    removed.sort();
    assert_eq!(
        removed,
        ["manifest.json.tmp", "shard-0001-0000000000000009.json.tmp"]
    );
    assert!(files(dir.path(), "manifest").is_empty());
    assert_eq!(store.len(), 20);
}

#[test]
fn every_fsync_policy_survives_a_reopen() {
    for policy in [
        FsyncPolicy::Always,
        FsyncPolicy::Every(std::time::Duration::from_millis(5)),
        FsyncPolicy::Never,
    ] {
        let dir = TempDir::new().unwrap();
        let store = SessionStore::builder()
            .fsync(policy)
            .autosave(None)
            .open(dir.path())
            .unwrap();
        for i in 0..50 {
            store
                .create(NewSession::new("u", "a").id(format!("s{i}")))
                .unwrap();
        }
        drop(store);
        assert_eq!(open(dir.path()).count("u", "a"), 50, "{policy:?}");
    }
}

/// Group commit under `Always`: many writers committing at once all succeed, each write is in
/// the journal file when it returns (checked before the store is closed, which would flush),
/// and all of them are there after a reopen.
#[test]
fn concurrent_durable_writers_all_succeed_and_every_write_is_journaled() {
    const WRITERS: usize = 16;
    const WRITES: usize = 40;
    let dir = TempDir::new().unwrap();
    let store = SessionStore::builder()
        .fsync(FsyncPolicy::Always)
        .autosave(None)
        .open(dir.path())
        .unwrap();
    let barrier = std::sync::Barrier::new(WRITERS);
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (store, barrier) = (&store, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..WRITES {
                    store
                        .create(NewSession::new(format!("u{w}"), "a").id(format!("w{w}-s{i}")))
                        .unwrap();
                }
            });
        }
    });
    let journal: String = files(dir.path(), "journal-")
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect();
    for w in 0..WRITERS {
        for i in 0..WRITES {
            assert!(journal.contains(&format!("\"w{w}-s{i}\"")), "w{w}-s{i}");
        }
    }
    // The open journal: its header, the lines, then zero padding.
    let ops = journal
        .lines()
        .filter(|l| l.starts_with("{\"op\":"))
        .count();
    assert_eq!(ops, WRITERS * WRITES);
    drop(store);
    let store = open(dir.path());
    for w in 0..WRITERS {
        assert_eq!(store.count(&format!("u{w}"), "a"), WRITES, "u{w}");
    }
}

#[test]
fn autosave_takes_snapshots_in_the_background() {
    let dir = TempDir::new().unwrap();
    let store = SessionStore::builder()
        .autosave(Some(std::time::Duration::from_millis(10)))
        .open(dir.path())
        .unwrap();
    store.create(NewSession::new("u", "a")).unwrap();
    // Bounded wait for the background thread, not a timing assertion.
    for _ in 0..500 {
        if dir.path().join("manifest.json").exists() && !store.has_unsaved_changes() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(dir.path().join("manifest.json").exists());
    assert!(!store.has_unsaved_changes());
}

#[test]
fn close_snapshots_and_reports() {
    let dir = TempDir::new().unwrap();
    let (store, _) = seeded(dir.path());
    store.close().unwrap();
    let store = open(dir.path());
    let r = store.recovery().unwrap();
    assert_eq!((r.snapshot_sessions, r.journal_ops), (20, 0));
}

#[test]
fn an_in_memory_store_has_no_snapshot() {
    let store = SessionStore::new();
    assert!(matches!(store.snapshot(), Err(StoreError::NotDurable)));
    assert!(store.recovery().is_none());
    store.flush().unwrap();
}

#[test]
fn a_captured_agentscope_answer_imports_as_is() {
    let path = fixture_dir().join("agentscope-2.0.0/list_user-1_agent-a.json");
    let store = SessionStore::new();
    assert_eq!(store.import_json(&path).unwrap(), 5);
    let original: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let listed = store.list(&ListQuery::new("user-1", "agent-a"));
    let ids: Vec<&str> = listed.sessions.iter().map(|s| s.id.as_str()).collect();
    let expected: Vec<&str> = original["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected);
    // Importing it again is all or nothing.
    let err = store.import_json(&path).unwrap_err();
    assert!(matches!(err, StoreError::DuplicateId { .. }), "{err}");
    assert_eq!(store.len(), 5);
}

#[test]
fn an_export_imports_back_and_is_the_list_shape() {
    let dir = TempDir::new().unwrap();
    let store = SessionStore::new();
    store
        .import_json(fixture_dir().join("agentscope-2.0.0/list_user-1_agent-a.json"))
        .unwrap();
    store.create(NewSession::new("other", "agent")).unwrap();
    let file = dir.path().join("export.json");
    assert_eq!(store.export_json(&file).unwrap(), 6);
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert_eq!(v["total"], 6);
    assert_eq!(v["sessions"].as_array().unwrap().len(), 6);

    let copy = SessionStore::new();
    copy.import_json(&file).unwrap();
    for q in [
        ListQuery::new("user-1", "agent-a"),
        ListQuery::new("other", "agent"),
    ] {
        assert_eq!(copy.list_json(&q), store.list_json(&q));
    }
}

#[test]
fn a_bad_import_inserts_nothing() {
    let dir = TempDir::new().unwrap();
    let store = SessionStore::new();
    store.create(NewSession::new("keep", "a").id("k")).unwrap();

    let broken = dir.path().join("broken.json");
    fs::write(
        &broken,
        b"{\"sessions\": [\n  {\"id\": 5}\n], \"total\": 1}",
    )
    .unwrap();
    let err = store.import_json(&broken).unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { line: 2, .. }), "{err}");

    let dup = dir.path().join("dup.json");
    let rec = store.get("keep", "a", "k").unwrap();
    let mut other = (*rec).clone();
    other.id = "fresh".into();
    let body = serde_json::json!({"sessions": [other, *rec], "total": 2});
    fs::write(&dup, serde_json::to_vec(&body).unwrap()).unwrap();
    let err = store.import_json(&dup).unwrap_err();
    assert!(matches!(err, StoreError::DuplicateId { .. }), "{err}");
    assert!(
        store.get("keep", "a", "fresh").is_none(),
        "nothing inserted"
    );
    assert_eq!(store.len(), 1);
}

#[test]
fn a_store_written_by_version_1_still_opens() {
    // tests/fixtures/store-v1 was written by this crate's format version 1: a snapshot plus
    // a journal. Opening takes a lock and may write, so open a copy.
    let src = fixture_dir().join("store-v1");
    let dir = TempDir::new().unwrap();
    for entry in fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let store = open(dir.path());
    let r = store.recovery().unwrap();
    assert_eq!((r.snapshot_sessions, r.journal_ops), (8, 3));
    assert_eq!(store.len(), 8);
    let page = store.list(&ListQuery::new("user-1", "agent-a"));
    assert_eq!(page.total, 4);
    assert_eq!(
        store
            .get("user-1", "agent-a", "49235ff1765b4793a29fbc663f0a84af")
            .unwrap()
            .config
            .name,
        "renamed in the journal"
    );
    assert!(store
        .get("user-1", "agent-a", "aeac07ccbecf4969821608a1d70948ad")
        .is_none());
    assert!(store.get("user-3", "agent-c", "from-the-journal").is_some());
}

#[test]
fn documents_too_deep_to_read_back_are_refused_and_change_nothing() {
    use agent_sessions::model::{AgentRecord, ContentBlock, Msg, Object, Role};
    fn nested(levels: usize) -> serde_json::Value {
        (0..levels).fold(serde_json::json!(1), |v, _| serde_json::json!([v]))
    }
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let rec = store.create(NewSession::new("u", "a")).unwrap();
    // Deep but within the limit: stored, and read back after a reopen.
    let ok = store
        .update("u", "a", &rec.id, |r| {
            r.extra.insert("deep".into(), nested(80));
        })
        .unwrap();
    let too_deep = store
        .update("u", "a", &rec.id, |r| {
            r.extra.insert("deep".into(), nested(200));
        })
        .unwrap_err();
    assert!(matches!(too_deep, StoreError::TooDeep { .. }), "{too_deep}");
    let mut msg = Msg::new("user", Role::User, vec![ContentBlock::text("hi")]);
    msg.metadata.insert("deep".into(), nested(200));
    let err = store.append_message("u", "a", &rec.id, msg).unwrap_err();
    assert!(matches!(err, StoreError::TooDeep { .. }), "{err}");
    // An agent's limit applies to its data, as the caller gave it: 1 + 99 levels is the most.
    let mut data = Object::new();
    data.insert("deep".into(), nested(99));
    let kept = store.register_agent(AgentRecord::new("u", data)).unwrap();
    let mut data = Object::new();
    data.insert("deep".into(), nested(100));
    let err = store
        .register_agent(AgentRecord::new("u", data))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooDeep {
                depth: 101,
                limit: 100,
                ..
            }
        ),
        "{err}"
    );
    let mut data = Object::new();
    data.insert("deep".into(), nested(200));
    let err = store
        .register_agent(AgentRecord::new("u", data))
        .unwrap_err();
    assert!(matches!(err, StoreError::TooDeep { .. }), "{err}");
    store.snapshot().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.get("u", "a", &rec.id).unwrap(), ok);
    assert_eq!(store.message_count("u", "a", &rec.id).unwrap(), 0);
    assert_eq!(store.agents("u"), vec![kept]);
}
