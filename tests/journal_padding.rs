//! The journal's formats 2 and 3: a header line, the lines, then zero padding written ahead of
//! them so that an fsync flushes data only. While a store is open its journal is padded; a crash leaves
//! the padding, and recovery finds the log's end exactly (the first zero byte where a line
//! would start), drops a torn line followed by zeros, and refuses non-zero bytes after the end.
//! A closed store's journal ends with its last line. Directories of format 1 (unpadded
//! journals without a header) open and replay as before.
//!
//! A crash image is taken by copying the directory's files while the store is open: after a
//! SIGKILL the files hold exactly what the writes put in the page cache.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent_sessions::{FsyncPolicy, NewSession, SessionStore, StoreError};

#[path = "common/store_files.rs"]
mod store_files;
use store_files::journals;
use tempfile::TempDir;

const HEADER: &[u8] = b"{\"format\":\"agent-sessions/journal\",\"version\":3}\n";

fn open(dir: &Path) -> SessionStore {
    SessionStore::builder()
        .snapshot_shards(4)
        .autosave(None)
        .fsync(FsyncPolicy::Always)
        .open(dir)
        .unwrap()
}

/// The byte after the last newline: the log's end in a file without a torn line.
fn log_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// Copies every file but the lock into a new directory: what a SIGKILL would leave.
fn crash_image(dir: &Path) -> TempDir {
    let image = TempDir::new().unwrap();
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().unwrap() != "LOCK" {
            fs::copy(&p, image.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    image
}

/// A store with `n` sessions of (u, a) whose journal has padding after its lines; returns the
/// store and its journal's path.
fn padded_store(dir: &Path, n: usize) -> (SessionStore, PathBuf) {
    let store = open(dir);
    for i in 0..n {
        store
            .create(NewSession::new("u", "a").id(format!("s{i}")))
            .unwrap();
    }
    let journal = journals(dir).pop().unwrap();
    // The padding is written by a thread of the store's; a bound, not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let bytes = fs::read(&journal).unwrap();
        // The file grows page by page while a piece of zeros is written: wait for a good part.
        if bytes.len() >= log_end(&bytes) + (64 << 10) {
            break;
        }
        assert!(Instant::now() < deadline, "the journal was never padded");
        std::thread::sleep(Duration::from_millis(5));
    }
    (store, journal)
}

#[test]
fn an_open_journal_is_a_header_lines_and_zero_padding() {
    let dir = TempDir::new().unwrap();
    let (store, journal) = padded_store(dir.path(), 10);
    let bytes = fs::read(&journal).unwrap();
    assert!(bytes.starts_with(HEADER), "no header");
    let end = log_end(&bytes);
    let lines = &bytes[HEADER.len()..end];
    assert_eq!(lines.split(|&b| b == b'\n').count() - 1, 10);
    assert!(bytes[end..].iter().all(|&b| b == 0), "padding is zeros");
    assert!(
        bytes.len() - end >= 64 << 10,
        "{} bytes of padding",
        bytes.len() - end
    );
    drop(store);
}

#[test]
fn a_crash_with_padding_recovers_every_line_and_appends_after_them() {
    let dir = TempDir::new().unwrap();
    let (store, journal) = padded_store(dir.path(), 25);
    let image = crash_image(dir.path());
    drop(store);
    let name = journal.file_name().unwrap();
    let padded = fs::read(image.path().join(name)).unwrap();
    assert!(padded.len() > log_end(&padded));

    let store = open(image.path());
    let r = store.recovery().unwrap();
    assert_eq!((r.journal_ops, r.torn_tail), (25, None));
    assert_eq!(store.count("u", "a"), 25);
    // The next line goes right after the last one, over the padding.
    store.create(NewSession::new("u", "a").id("after")).unwrap();
    let bytes = fs::read(image.path().join(name)).unwrap();
    assert_eq!(&bytes[..log_end(&padded)], &padded[..log_end(&padded)]);
    let image2 = crash_image(image.path());
    drop(store);
    let store = open(image2.path());
    assert_eq!(store.recovery().unwrap().journal_ops, 26);
    assert!(store.get("u", "a", "after").is_some());
}

#[test]
fn a_torn_line_followed_by_padding_is_a_torn_tail() {
    let dir = TempDir::new().unwrap();
    let (store, journal) = padded_store(dir.path(), 5);
    let image = crash_image(dir.path());
    drop(store);
    let path = image.path().join(journal.file_name().unwrap());
    let mut bytes = fs::read(&path).unwrap();
    let end = log_end(&bytes);
    let torn = br#"{"op":"put","version":99,"record":{"id":"to"#;
    bytes[end..end + torn.len()].copy_from_slice(torn);
    fs::write(&path, &bytes).unwrap();

    let store = open(image.path());
    let tail = store.recovery().unwrap().torn_tail.expect("reported");
    assert_eq!(tail.path, path);
    assert_eq!(tail.line, 7, "the header, five lines, then the torn one");
    assert_eq!(
        tail.bytes,
        torn.len(),
        "the torn line's bytes, not the padding"
    );
    assert_eq!(store.count("u", "a"), 5);
    // Cut at the torn line's start; the store goes on writing after it, and that survives.
    assert_eq!(&fs::read(&path).unwrap()[..end], &bytes[..end]);
    store.create(NewSession::new("u", "a").id("after")).unwrap();
    drop(store);
    let store = open(image.path());
    assert_eq!(store.recovery().unwrap().torn_tail, None);
    assert_eq!(store.count("u", "a"), 6);
}

#[test]
fn non_zero_bytes_after_the_end_are_damage_that_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let (store, journal) = padded_store(dir.path(), 5);
    let image = crash_image(dir.path());
    drop(store);
    let path = image.path().join(journal.file_name().unwrap());
    let good = fs::read(&path).unwrap();
    let end = log_end(&good);

    // A zero where a line would start, then a line: the log ended, and something follows.
    let mut bytes = good.clone();
    let line = b"{\"op\":\"del\",\"user_id\":\"u\",\"agent_id\":\"a\",\"ids\":[\"s0\"]}\n";
    bytes[end + 10..end + 10 + line.len()].copy_from_slice(line);
    fs::write(&path, &bytes).unwrap();
    let err = SessionStore::open(image.path()).unwrap_err();
    match &err {
        StoreError::Corrupt { path: p, line, .. } => {
            assert_eq!((p, *line), (&path, 7), "{err}");
            assert!(err.to_string().contains("not zero"), "{err}");
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    assert_eq!(
        fs::read(&path).unwrap(),
        bytes,
        "a failed open changes no file"
    );

    // A line cut short by zeros, with bytes after them: not a torn tail.
    let mut bytes = good;
    bytes[end..end + 5].copy_from_slice(b"{\"op\"");
    bytes[end + 100] = b'x';
    fs::write(&path, &bytes).unwrap();
    let err = SessionStore::open(image.path()).unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { line: 7, .. }), "{err}");
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_padded_journal_before_the_last_one_reads_to_its_end() {
    // A crash after a snapshot started a new journal, before it removed the old one.
    let dir = TempDir::new().unwrap();
    let (store, journal) = padded_store(dir.path(), 7);
    let image = crash_image(dir.path());
    drop(store);
    let name = journal.file_name().unwrap().to_string_lossy().into_owned();
    let number: u64 = name["journal-".len()..name.len() - ".jsonl".len()]
        .parse()
        .unwrap();
    let mut next = HEADER.to_vec();
    next.extend_from_slice(
        b"{\"op\":\"del\",\"user_id\":\"u\",\"agent_id\":\"a\",\"ids\":[\"s0\"]}\n",
    );
    next.resize(4096, 0);
    fs::write(
        image
            .path()
            .join(format!("journal-{:016}.jsonl", number + 1)),
        next,
    )
    .unwrap();
    let store = open(image.path());
    assert_eq!(store.recovery().unwrap().journal_ops, 8);
    assert_eq!(store.count("u", "a"), 6);
    assert!(store.get("u", "a", "s0").is_none());
}

#[test]
fn a_closed_store_leaves_no_padding() {
    let dir = TempDir::new().unwrap();
    let (store, journal) = padded_store(dir.path(), 3);
    drop(store);
    let bytes = fs::read(&journal).unwrap();
    assert!(bytes.starts_with(HEADER));
    assert_eq!(bytes.len(), log_end(&bytes), "cut at the last line");
    let store = open(dir.path());
    assert_eq!(store.recovery().unwrap().journal_ops, 3);
}

#[test]
fn a_journal_of_an_unknown_version_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("journal-0000000000000000.jsonl");
    fs::write(
        &path,
        b"{\"format\":\"agent-sessions/journal\",\"version\":4}\n",
    )
    .unwrap();
    let err = SessionStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::UnsupportedVersion { found: 4, supported: 3, path: p } if p == &path),
        "{err}"
    );
}

/// A journal of version 2 (the previous crate's: the same layout, no `ctx` lines) replays
/// as it is, and is continued in a new file of version 3, so that a reader of version 2 never
/// meets a `ctx` line in a file it thinks it can read.
#[test]
fn a_version_2_journal_replays_and_is_continued_in_a_new_file() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    store.create(NewSession::new("u", "a").id("s1")).unwrap();
    store.create(NewSession::new("u", "a").id("s2")).unwrap();
    drop(store);
    let files = journals(dir.path());
    assert_eq!(files.len(), 1);
    let old = &files[0];
    let v2 = String::from_utf8(fs::read(old).unwrap()).unwrap().replacen(
        "\"version\":3}",
        "\"version\":2}",
        1,
    );
    fs::write(old, &v2).unwrap();

    let store = open(dir.path());
    assert_eq!(store.recovery().unwrap().journal_ops, 2);
    assert_eq!(store.len(), 2);
    store.delete("u", "a", "s1").unwrap();
    assert_eq!(
        fs::read_to_string(old).unwrap(),
        v2,
        "the version-2 file is left as it was"
    );
    let files = journals(dir.path());
    assert_eq!(files.len(), 2);
    assert!(fs::read(&files[1]).unwrap().starts_with(HEADER));
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.recovery().unwrap().journal_ops, 3);
    assert_eq!(store.len(), 1);
    assert!(store.get("u", "a", "s2").is_some());
}

/// A directory of format 1 without a snapshot, as that version wrote it: one journal file,
/// `journal-0000000000000000.jsonl`, of JSON lines with nothing before or after them (the
/// fixture `tests/fixtures/store-v1` has a snapshot too; `tests/durability.rs` opens it).
#[test]
fn a_version_1_journal_replays_exactly_and_is_continued_in_a_new_file() {
    let dir = TempDir::new().unwrap();
    let record = |id: &str, name: &str, version: u64| {
        format!(
            "{{\"op\":\"put\",\"version\":{version},\"record\":{{\"id\":\"{id}\",\
             \"updated_at\":\"2026-01-08T13:44:57.060816Z\",\
             \"created_at\":\"2026-01-08T13:44:57.060816Z\",\"user_id\":\"u\",\
             \"agent_id\":\"a\",\"config\":{{\"workspace_id\":\"w\",\"name\":\"{name}\"}}}}}}\n"
        )
    };
    let v1 = [
        record("s1", "first", 1),
        record("s2", "second", 2),
        record("s1", "renamed", 3),
        "{\"op\":\"del\",\"user_id\":\"u\",\"agent_id\":\"a\",\"ids\":[\"s2\"]}\n".to_owned(),
    ]
    .concat();
    let old = dir.path().join("journal-0000000000000000.jsonl");
    fs::write(&old, &v1).unwrap();

    let store = open(dir.path());
    let r = store.recovery().unwrap();
    assert_eq!((r.journal_ops, r.torn_tail), (4, None));
    assert_eq!(store.len(), 1);
    assert_eq!(store.get("u", "a", "s1").unwrap().config.name, "renamed");
    store.create(NewSession::new("u", "a").id("s3")).unwrap();
    // The version-1 file is left as it was; new lines go to a new file of version 3.
    assert_eq!(fs::read(&old).unwrap(), v1.as_bytes());
    let files = journals(dir.path());
    assert_eq!(files.len(), 2);
    assert!(fs::read(&files[1]).unwrap().starts_with(HEADER));
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.recovery().unwrap().journal_ops, 5);
    assert_eq!(store.len(), 2);
    // A snapshot covers both; the manifest it writes is of version 2.
    store.snapshot().unwrap();
    let manifest = fs::read_to_string(dir.path().join("manifest.json")).unwrap();
    assert!(manifest.contains("\"version\": 2"), "{manifest}");
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.len(), 2);
}

/// A version-1 journal cut short by a crash: its torn line is dropped as before, and the store
/// goes on in a new file.
#[test]
fn a_torn_version_1_journal_is_cut_as_before() {
    let dir = TempDir::new().unwrap();
    let old = dir.path().join("journal-0000000000000004.jsonl");
    let del = "{\"op\":\"del\",\"user_id\":\"u\",\"agent_id\":\"a\",\"ids\":[\"x\"]}\n";
    fs::write(&old, format!("{del}{{\"op\":\"put\",\"vers")).unwrap();
    let store = open(dir.path());
    let tail = store.recovery().unwrap().torn_tail.expect("reported");
    assert_eq!((tail.line, tail.bytes), (2, 17));
    assert_eq!(fs::read_to_string(&old).unwrap(), del);
    store.create(NewSession::new("u", "a").id("s")).unwrap();
    drop(store);
    let files = journals(dir.path());
    assert_eq!(
        files.last().unwrap().file_name().unwrap(),
        "journal-0000000000000005.jsonl"
    );
    let store = open(dir.path());
    assert_eq!(store.recovery().unwrap().journal_ops, 2);
    assert_eq!(store.len(), 1);
}
