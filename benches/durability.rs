//! Durability benchmarks of a `SessionStore` kept in a directory, with their baselines in the
//! same run:
//!
//! 1. `snapshot/<S>_shards/full_save` and `.../load`: a full snapshot of N realistic sessions
//!    (the AgentScope 2.0.0 fixture's first record, trimmed to ~0.65 KB, with fresh ids)
//!    written by `store.snapshot()` (every shard file written and fsynced, the directory
//!    fsynced, the manifest replaced) and loaded by `open` from a directory holding that
//!    snapshot and an empty journal. N is `BENCH_SNAPSHOT_SESSIONS` (default 100000).
//! 2. `snapshot/<S>_shards/autosave_100`: the snapshot that follows 100 updates of random
//!    sessions, with S = 256 and 4096 (the default) shards (`BENCH_SNAPSHOT_SHARDS`), against
//!    the full snapshot of the same store.
//! 3. `creates/*`: durable creates per second under `FsyncPolicy::Always` (group commit) with 1
//!    and 8 writer threads (`BENCH_WRITERS`), against a JSON-lines file with one `sync_data` per
//!    write under a mutex, and SQLite (WAL, `synchronous=FULL`, one autocommit INSERT per
//!    create, one connection per thread).
//! 4. `replay/*`: `SessionStore::open` of a directory holding a snapshot of N sessions and a
//!    journal of C changes since (updates of random sessions), against the open of the same
//!    snapshot with an empty journal; the difference is the journal's replay. N is
//!    `BENCH_REPLAY_SESSIONS` (default 10000), C is `BENCH_REPLAY_CHANGES` (default 100000).
//!
//! ```sh
//! BENCH_SNAPSHOT_SESSIONS=1000000 cargo bench --bench durability
//! ```
//!
//! Criterion prints its own statistics; at the end a summary (medians, throughputs, ratios
//! against the baselines and the targets) is printed as markdown. Files go in a temp dir under
//! `BENCH_DIR` (default: the system temp dir). `BENCH_DURABILITY=snapshot`, `=creates` or
//! `=replay` runs one part only. The snapshot store is filled and dirtied under `FsyncPolicy::Never` and
//! flushed before each measured snapshot, so the measured time is the snapshot's own:
//! encoding, writing and fsyncing every file, the directory fsync, the manifest and the removal
//! of the replaced files. Loads read files the page cache holds (just written).

use std::fs::{self, File, OpenOptions};
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

mod common;

use agent_sessions::model::{new_id, SessionRecord};
use agent_sessions::{FsyncPolicy, NewSession, SessionStore, SnapshotReport};
use chrono::{DateTime, Utc};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use rusqlite::{params, Connection, ErrorCode};
use serde_json::Value;
use tempfile::TempDir;

/// Sessions per (user, agent) in the snapshot store.
const SESSIONS_PER_PAIR: usize = 20;
/// Agents per user in the snapshot store.
const AGENTS_PER_USER: usize = 5;
/// Agents each writer thread of the create benchmarks cycles through.
const WRITER_AGENTS: u64 = 5;
/// The changes before the autosave that `autosave_100` measures.
const AUTOSAVE_CHANGES: usize = 100;
/// Criterion's samples per benchmark (its minimum).
const SAMPLES: usize = 10;

fn main() {
    let cfg = Config::from_env();
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_millis(500));
    let mut summary = Summary::default();
    if cfg.runs("snapshot") {
        for &shards in &cfg.shard_counts {
            summary.snapshots.push(snapshot_part(&mut c, &cfg, shards));
        }
    }
    if cfg.runs("creates") {
        summary.creates = Some(creates_part(&mut c, &cfg));
    }
    if cfg.runs("replay") {
        summary.replay = Some(replay_part(&mut c, &cfg));
    }
    c.final_summary();
    summary.print(&cfg);
}

/// What to run, from the environment.
struct Config {
    sessions: usize,
    shard_counts: Vec<usize>,
    writers: Vec<usize>,
    parts: Vec<String>,
    parent: PathBuf,
    /// Criterion's target time of one create benchmark.
    create_time: Duration,
    /// Interleaved rounds of the create benchmarks, and each backend's time in a round.
    create_rounds: usize,
    round_time: Duration,
    /// Paired rounds (full save, then autosave) of the snapshot benchmarks.
    snapshot_pairs: usize,
    /// Sessions in the snapshot, and changes in the journal, of the replay benchmarks.
    replay_sessions: usize,
    replay_changes: usize,
}

impl Config {
    fn from_env() -> Self {
        // `cargo bench -- --test` (or `cargo test --benches`) runs every routine once: keep it
        // small unless asked otherwise.
        let test_mode = std::env::args().any(|a| a == "--test");
        let default_n = if test_mode { "2000" } else { "100000" };
        let sessions = env_list("BENCH_SNAPSHOT_SESSIONS", default_n)[0];
        assert!(sessions > 0, "BENCH_SNAPSHOT_SESSIONS must be positive");
        let parts = std::env::var("BENCH_DURABILITY")
            .unwrap_or_else(|_| "snapshot,creates,replay".to_owned())
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect();
        Self {
            sessions,
            shard_counts: env_list("BENCH_SNAPSHOT_SHARDS", "256,4096"),
            writers: env_list("BENCH_WRITERS", "1,8"),
            parts,
            parent: std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
            create_time: Duration::from_secs(if test_mode { 1 } else { 4 }),
            create_rounds: env_list("BENCH_CREATE_ROUNDS", if test_mode { "1" } else { "10" })[0],
            round_time: Duration::from_millis(if test_mode { 100 } else { 500 }),
            snapshot_pairs: env_list("BENCH_SNAPSHOT_PAIRS", if test_mode { "1" } else { "5" })[0],
            replay_sessions: env_list(
                "BENCH_REPLAY_SESSIONS",
                if test_mode { "500" } else { "10000" },
            )[0]
            .max(1),
            replay_changes: env_list(
                "BENCH_REPLAY_CHANGES",
                if test_mode { "2000" } else { "100000" },
            )[0],
        }
    }

    fn runs(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }

    fn temp_dir(&self, what: &str) -> TempDir {
        tempfile::Builder::new()
            .prefix(&format!("durability-bench-{what}-"))
            .tempdir_in(&self.parent)
            .expect("create a temp dir under BENCH_DIR")
    }
}

/// A comma-separated list of numbers (`_` allowed) from `var`, or `default`.
fn env_list(var: &str, default: &str) -> Vec<usize> {
    let raw = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let list: Vec<usize> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("{var}: {s:?} is not a number"))
        })
        .collect();
    assert!(!list.is_empty(), "{var} is empty");
    list
}

// ---------------------------------------------------------------------------------------------
// The data
// ---------------------------------------------------------------------------------------------

/// `SplitMix64`'s output function: a cheap, well-mixed hash of a counter.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 32 lowercase hex digits, like AgentScope's uuid4-hex ids, derived from `(salt, i)`.
fn hex_id(salt: u64, i: u64) -> String {
    format!(
        "{:016x}{:016x}",
        mix(salt ^ i.wrapping_mul(2)),
        mix(salt ^ i.wrapping_mul(2).wrapping_add(1))
    )
}

/// A seeded generator for the random picks.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 += 1;
        usize::try_from(mix(self.0) % n as u64).unwrap_or(0)
    }
}

/// The N sessions of the snapshot store, made on demand from session `i` (so 1M records never
/// sit in a `Vec`, and any session's key can be recomputed).
///
/// Session `i` belongs to pair `i % pairs` (round robin, so every pair's sessions spread over
/// time); pair `p` is user `p / 5`, agent `p % 5`.
struct Sessions {
    n: usize,
    pairs: usize,
    /// The fixture's first record, trimmed: empty summary, default permissions, empty read
    /// cache, no tasks, its chat model (~0.8 KB).
    with_model: SessionRecord,
    /// The same without a chat model (~0.65 KB), as a session created without one.
    without_model: SessionRecord,
    base: DateTime<Utc>,
}

impl Sessions {
    fn new(n: usize) -> Self {
        let mut rec = common::fixture_records()[0].clone();
        common::trim_state(&mut rec);
        let no_model = common::without_model(&rec);
        let parse = |v: Value| -> SessionRecord { serde_json::from_value(v).expect("a record") };
        Self {
            n,
            pairs: n.div_ceil(SESSIONS_PER_PAIR),
            with_model: parse(rec),
            without_model: parse(no_model),
            base: "2026-01-01T00:00:00Z".parse().expect("base time"),
        }
    }

    fn pair(p: usize) -> (String, String) {
        (
            format!("user-{:07}", p / AGENTS_PER_USER),
            format!("agent-{}", p % AGENTS_PER_USER),
        )
    }

    /// (user, agent, id) of session `i`.
    fn key(&self, i: usize) -> (String, String, String) {
        let (user, agent) = Self::pair(i % self.pairs);
        (user, agent, hex_id(1, i as u64))
    }

    fn record(&self, i: usize) -> SessionRecord {
        let r = mix(i as u64 ^ 0xA5A5);
        let mut rec = if r.is_multiple_of(8) {
            self.with_model.clone()
        } else {
            self.without_model.clone()
        };
        let (user, agent, id) = self.key(i);
        rec.id = id;
        rec.config.workspace_id = format!("ws-{user}-{}", (r >> 8) % 3);
        rec.config.name = format!("session {}", (r >> 16) % 1000);
        rec.user_id = user;
        rec.agent_id = agent;
        let micros =
            i64::try_from(i).unwrap_or(0) * 1000 + i64::try_from((r >> 32) & 0xFFFF).unwrap_or(0);
        rec.created_at = self.base + chrono::Duration::microseconds(micros);
        rec.updated_at =
            rec.created_at + chrono::Duration::seconds(i64::try_from(r >> 48).unwrap_or(0));
        rec.state.session_id = hex_id(2, i as u64);
        rec.state.reply_id = hex_id(3, i as u64);
        rec
    }

    /// Makes one change to session `i` (journaled, not yet snapshotted).
    fn touch(&self, store: &SessionStore, i: usize) {
        let (user, agent, id) = self.key(i);
        store
            .update(&user, &agent, &id, |r| r.state.cur_iter += 1)
            .expect("update a session");
    }

    /// One session in every shard that has any: updating them dirties every shard.
    fn one_per_shard(&self, shards: usize) -> Vec<usize> {
        let mut first = vec![None; shards];
        // Session p (p < pairs) is the first session of pair p.
        for p in 0..self.pairs.min(self.n) {
            let (user, agent) = Self::pair(p);
            first[shard_of(&user, &agent, shards)].get_or_insert(p);
        }
        first.into_iter().flatten().collect()
    }
}

/// The store's shard of a (user, agent), as its manifest documents it (FNV-1a, 64 bits, over
/// the user, a 0xff byte and the agent). If the store's hash ever changes, the full-save
/// benchmark's check that every session was written fails loudly.
fn shard_of(user: &str, agent: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in user.bytes().chain([0xff]).chain(agent.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(h % shards as u64).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Part 1 and 2: snapshots
// ---------------------------------------------------------------------------------------------

/// One measured snapshot or load.
#[derive(Clone, Copy, Debug)]
struct Measure {
    time: Duration,
    bytes: u64,
    shards_written: usize,
}

/// Every call criterion made to an `iter_custom` routine, one `Vec` per call, in order; the
/// last `SAMPLES` calls are its measured samples (the ones before are its warm-up).
#[derive(Debug, Default)]
struct Calls(Vec<Vec<Measure>>);

impl Calls {
    fn measured(&self) -> Vec<Measure> {
        let skip = self.0.len().saturating_sub(SAMPLES);
        self.0[skip..].iter().flatten().copied().collect()
    }

    fn median_time(&self) -> Option<Duration> {
        let mut times: Vec<Duration> = self.measured().iter().map(|m| m.time).collect();
        median(&mut times)
    }

    fn median_bytes(&self) -> Option<u64> {
        let mut bytes: Vec<u64> = self.measured().iter().map(|m| m.bytes).collect();
        median(&mut bytes)
    }

    fn median_shards(&self) -> Option<usize> {
        let mut shards: Vec<usize> = self.measured().iter().map(|m| m.shards_written).collect();
        median(&mut shards)
    }
}

fn median<T: Ord + Copy>(v: &mut [T]) -> Option<T> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

struct SnapshotResult {
    shards: usize,
    fill_time: Duration,
    /// The first snapshot of the freshly filled store (it also removes the fill's journal).
    first: (Duration, SnapshotReport),
    full: Calls,
    autosave: Calls,
    load: Calls,
    /// The parse floor of the same records (see `common::floors::parse_all`).
    floor_parse: Calls,
    /// Bytes of the files a load reads (manifest and shard files).
    snapshot_bytes: u64,
    /// Shard files in the directory a load reads.
    snapshot_files: usize,
    /// (full save, autosave) of each paired round.
    pairs: Vec<(Duration, Duration)>,
}

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Benchmarks `measure` as `name`: each call prepares what it needs untimed and returns what
/// it timed itself.
fn bench_measured(group: &mut Group, name: &str, mut measure: impl FnMut() -> Measure) -> Calls {
    let mut calls = Calls::default();
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let call: Vec<Measure> = (0..iters).map(|_| measure()).collect();
            let total = call.iter().map(|m| m.time).sum();
            calls.0.push(call);
            total
        });
    });
    calls
}

/// Times `store.snapshot()`, its journal already flushed.
fn timed_snapshot(store: &SessionStore) -> (Duration, SnapshotReport) {
    store.flush().expect("flush the journal");
    let started = Instant::now();
    let report = store.snapshot().expect("snapshot");
    (started.elapsed(), report)
}

/// `rounds` times: a full save (every shard dirty), then an autosave after
/// `AUTOSAVE_CHANGES` random updates; returns their times.
fn paired_rounds(
    store: &SessionStore,
    sessions: &Sessions,
    dirtiers: &[usize],
    rng: &mut Rng,
    rounds: usize,
) -> Vec<(Duration, Duration)> {
    (0..rounds)
        .map(|_| {
            for &i in dirtiers {
                sessions.touch(store, i);
            }
            let (save_time, report) = timed_snapshot(store);
            assert_eq!(report.sessions_written, sessions.n);
            for _ in 0..AUTOSAVE_CHANGES {
                sessions.touch(store, rng.below(sessions.n));
            }
            (save_time, timed_snapshot(store).0)
        })
        .collect()
}

fn snapshot_part(c: &mut Criterion, cfg: &Config, shards: usize) -> SnapshotResult {
    let n = cfg.sessions;
    let sessions = Sessions::new(n);
    let tmp = cfg.temp_dir("snapshot");
    let dir = tmp.path().join("store");
    eprintln!(
        "durability: filling a {shards}-shard store with {n} sessions in {}",
        dir.display()
    );
    let store = SessionStore::builder()
        .fsync(FsyncPolicy::Never)
        .autosave(None)
        .snapshot_shards(shards)
        .open(&dir)
        .expect("open the snapshot store");
    let started = Instant::now();
    for i in 0..n {
        store.insert(sessions.record(i)).expect("insert");
    }
    store.flush().expect("flush the journal");
    let fill_time = started.elapsed();
    assert_eq!(store.len(), n);
    let first = timed_snapshot(&store);
    assert_eq!(
        first.1.sessions_written, n,
        "the first snapshot holds every session"
    );

    let mut group = c.benchmark_group(format!("snapshot/{shards}_shards"));
    group
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(5));

    group.throughput(Throughput::Bytes(first.1.bytes_written));
    let dirtiers = sessions.one_per_shard(shards);
    let full = bench_measured(&mut group, "full_save", || {
        for &i in &dirtiers {
            sessions.touch(&store, i);
        }
        let (time, report) = timed_snapshot(&store);
        assert_eq!(
            report.sessions_written, n,
            "every shard was dirty, so every session is written"
        );
        Measure {
            time,
            bytes: report.bytes_written,
            shards_written: report.shards_written,
        }
    });

    group.throughput(Throughput::Elements(AUTOSAVE_CHANGES as u64));
    let mut rng = Rng(0x5E55_1025);
    let autosave = bench_measured(&mut group, &format!("autosave_{AUTOSAVE_CHANGES}"), || {
        for _ in 0..AUTOSAVE_CHANGES {
            sessions.touch(&store, rng.below(n));
        }
        let (time, report) = timed_snapshot(&store);
        Measure {
            time,
            bytes: report.bytes_written,
            shards_written: report.shards_written,
        }
    });

    // The ratio, in rounds where the two run back to back (the disk's speed drifts).
    let pairs = paired_rounds(&store, &sessions, &dirtiers, &mut rng, cfg.snapshot_pairs);

    // The last snapshot left nothing unsaved: close leaves the snapshot and an empty journal.
    store.close().expect("close");
    let (snapshot_bytes, snapshot_files, journal_bytes) = dir_sizes(&dir);
    // A journal file of version 2 starts with a header line (48 bytes).
    assert!(
        journal_bytes <= 64,
        "the journal holds no line after the last snapshot: {journal_bytes} bytes"
    );

    group.throughput(Throughput::Bytes(snapshot_bytes));
    let load = bench_measured(&mut group, "load", || {
        timed_load(&dir, shards, n, snapshot_bytes)
    });
    let floor_parse = floor_parse(&mut group, &dir, n, snapshot_bytes);
    group.finish();

    SnapshotResult {
        shards,
        fill_time,
        first,
        full,
        autosave,
        load,
        floor_parse,
        snapshot_bytes,
        snapshot_files,
        pairs,
    }
}

/// One `open` of the snapshot in `dir` (N sessions, no journal), timed.
fn timed_load(dir: &Path, shards: usize, n: usize, snapshot_bytes: u64) -> Measure {
    let started = Instant::now();
    let loaded = SessionStore::builder()
        .autosave(None)
        .snapshot_shards(shards)
        .open(dir)
        .expect("open the snapshot");
    let time = started.elapsed();
    assert_eq!(loaded.len(), n);
    let recovery = loaded.recovery().expect("a durable store");
    assert_eq!(recovery.journal_ops, 0);
    // Every record's stored bytes were served as they are, not encoded again.
    assert_eq!(recovery.snapshot_sessions_reencoded, 0);
    drop(black_box(loaded)); // not timed
    Measure {
        time,
        bytes: snapshot_bytes,
        shards_written: 0,
    }
}

/// The parse floor of a load: the typed parse of every record's stored bytes, on one thread.
fn floor_parse(group: &mut Group, dir: &Path, n: usize, snapshot_bytes: u64) -> Calls {
    let stored = stored_records(dir);
    assert_eq!(stored.len(), n);
    bench_measured(group, "floor_parse", || {
        let started = Instant::now();
        black_box(common::floors::parse_all(&stored));
        Measure {
            time: started.elapsed(),
            bytes: snapshot_bytes,
            shards_written: 0,
        }
    })
}

/// Every record's stored bytes in the snapshot of `dir` (its shard files), as a load reads
/// them.
fn stored_records(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read the snapshot dir") {
        let path = entry.expect("a dir entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.starts_with("shard-") {
            continue;
        }
        let file: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).expect("read a shard")).expect("a shard");
        for s in file["sessions"].as_array().expect("the shard's sessions") {
            out.push(serde_json::to_vec(&s["record"]).expect("a record"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Part 4: the journal's replay at open
// ---------------------------------------------------------------------------------------------

struct ReplayResult {
    sessions: usize,
    changes: usize,
    journal_bytes: u64,
    snapshot_only: Calls,
    with_journal: Calls,
}

fn replay_part(c: &mut Criterion, cfg: &Config) -> ReplayResult {
    let (n, changes) = (cfg.replay_sessions, cfg.replay_changes);
    let sessions = Sessions::new(n);
    let tmp = cfg.temp_dir("replay");
    let bare = tmp.path().join("snapshot-only");
    let dir = tmp.path().join("with-journal");
    eprintln!("durability: a snapshot of {n} sessions, and {changes} changes in a journal");
    // The same snapshot in both; `dir` also gets the changes, left in its journal by a drop
    // (which flushes, and takes no snapshot).
    for (d, changed) in [(&bare, 0), (&dir, changes)] {
        let store = SessionStore::builder()
            .fsync(FsyncPolicy::Never)
            .autosave(None)
            .open(d)
            .expect("open the replay store");
        for i in 0..n {
            store.insert(sessions.record(i)).expect("insert");
        }
        store.snapshot().expect("snapshot");
        let mut rng = Rng(0x0E9_1A7);
        for _ in 0..changed {
            sessions.touch(&store, rng.below(n));
        }
        drop(store);
    }
    let journal_bytes = dir_sizes(&dir).2;

    let mut group = c.benchmark_group("replay");
    group
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(5));
    let mut open_timed = |name: &str, d: &Path, ops: usize| {
        bench_measured(&mut group, name, || {
            let started = Instant::now();
            let store = SessionStore::builder()
                .autosave(None)
                .open(d)
                .expect("open the replay store");
            let time = started.elapsed();
            assert_eq!(store.len(), n);
            assert_eq!(store.recovery().map(|r| r.journal_ops), Some(ops));
            drop(black_box(store)); // not timed; leaves the directory as it was
            Measure {
                time,
                bytes: journal_bytes,
                shards_written: 0,
            }
        })
    };
    let snapshot_only = open_timed("open_snapshot_only", &bare, 0);
    let with_journal = open_timed(&format!("open_with_{changes}_changes"), &dir, changes);
    group.finish();
    ReplayResult {
        sessions: n,
        changes,
        journal_bytes,
        snapshot_only,
        with_journal,
    }
}

impl ReplayResult {
    fn print(&self) {
        let (n, c) = (self.sessions, self.changes);
        println!(
            "### Open with a journal of {c} changes ({:.1} MB) over a snapshot of {n} sessions \
             (medians of criterion's {SAMPLES} samples)",
            as_f64(self.journal_bytes) / 1e6
        );
        println!();
        println!("| snapshot only | snapshot + journal | the journal's replay | lines/s | MB/s |");
        println!("|---:|---:|---:|---:|---:|");
        let bare = self.snapshot_only.median_time();
        let full = self.with_journal.median_time();
        let replay = bare.zip(full).map(|(b, f)| f.saturating_sub(b));
        let per_s = replay.map(|r| as_f64(c as u64) / r.as_secs_f64());
        println!(
            "| {} s | {} s | {} s | {} | {} |",
            secs(bare),
            secs(full),
            secs(replay),
            per_s.map_or_else(|| "-".to_owned(), |r| format!("{r:.0}")),
            replay.map_or_else(
                || "-".to_owned(),
                |r| format!("{:.1}", mb_per_s(self.journal_bytes, r))
            ),
        );
        println!();
    }
}

/// (bytes of the manifest and shard files, number of shard files, bytes of journals) in `dir`.
fn dir_sizes(dir: &Path) -> (u64, usize, u64) {
    let (mut snapshot, mut files, mut journal) = (0, 0, 0);
    for entry in fs::read_dir(dir).expect("read the store dir") {
        let entry = entry.expect("dir entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let len = entry.metadata().expect("metadata").len();
        if name.starts_with("journal-") {
            journal += len;
        } else if name.starts_with("shard-") || name.starts_with("agents-") {
            snapshot += len;
            files += 1;
        } else if name == "manifest.json" {
            snapshot += len;
        }
    }
    (snapshot, files, journal)
}

// ---------------------------------------------------------------------------------------------
// Part 3: durable creates
// ---------------------------------------------------------------------------------------------

/// The three ways to make a create durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// `SessionStore::create` under `FsyncPolicy::Always`: concurrent writers share fsyncs.
    Store,
    /// A JSON line appended and `sync_data`ed per create, under a mutex.
    JsonLines,
    /// SQLite on a file, WAL, `synchronous=FULL`, one autocommit INSERT per create.
    Sqlite,
}

impl Backend {
    const ALL: [Backend; 3] = [Backend::Store, Backend::JsonLines, Backend::Sqlite];

    fn name(self) -> &'static str {
        match self {
            Backend::Store => "store_group_commit",
            Backend::JsonLines => "jsonl_fsync_per_write",
            Backend::Sqlite => "sqlite_wal_full",
        }
    }
}

/// The three backends, open on their files for the whole part.
struct Targets {
    store: SessionStore,
    jsonl: Mutex<File>,
    sqlite: PathBuf,
    /// Held open for the whole part, so that the writers' connections closing is never the
    /// last close (which checkpoints and removes the WAL).
    sqlite_keeper: Mutex<Connection>,
    /// `SQLITE_BUSY` errors that outlived the busy timeout and were retried.
    busy: AtomicU64,
    /// A record like the ones `store.create` makes, for the baselines.
    template: SessionRecord,
}

/// A writer thread's own state: SQLite writers have their own connection.
enum Local {
    Nothing,
    Sqlite(Connection),
}

impl Targets {
    fn open(dir: &Path) -> Self {
        let store = SessionStore::builder()
            .fsync(FsyncPolicy::Always)
            .autosave(None)
            .open(dir.join("store"))
            .expect("open the store");
        let jsonl = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("sessions.jsonl"))
            .expect("open the JSON-lines file");
        File::open(dir)
            .and_then(|d| d.sync_all())
            .expect("fsync the dir");
        let sqlite = dir.join("sessions.db");
        let sqlite_keeper = sqlite_connection(&sqlite);
        sqlite_keeper
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS sessions (
                     id TEXT PRIMARY KEY,
                     user_id TEXT NOT NULL,
                     agent_id TEXT NOT NULL,
                     created_at INTEGER NOT NULL,
                     json TEXT NOT NULL
                 );",
            )
            .expect("create the table");
        let template = (*SessionStore::new()
            .create(
                NewSession::new("writer-0", "agent-0")
                    .workspace_id("ws-writer-0")
                    .name("session 0"),
            )
            .expect("an in-memory create"))
        .clone();
        Self {
            store,
            jsonl: Mutex::new(jsonl),
            sqlite,
            sqlite_keeper: Mutex::new(sqlite_keeper),
            busy: AtomicU64::new(0),
            template,
        }
    }

    fn local(&self, backend: Backend) -> Local {
        match backend {
            Backend::Sqlite => Local::Sqlite(sqlite_connection(&self.sqlite)),
            Backend::Store | Backend::JsonLines => Local::Nothing,
        }
    }

    /// Create number `k` of writer `w`, durable when this returns.
    fn create(&self, backend: Backend, local: &mut Local, w: usize, k: u64) {
        match (backend, local) {
            (Backend::Store, _) => {
                let new = NewSession::new(
                    format!("writer-{w}"),
                    format!("agent-{}", k % WRITER_AGENTS),
                )
                .workspace_id(format!("ws-writer-{w}"))
                .name(format!("session {k}"));
                black_box(self.store.create(new).expect("create"));
            }
            (Backend::JsonLines, _) => {
                let rec = baseline_record(&self.template, w, k);
                let mut line = serde_json::to_vec(&rec).expect("encode");
                line.push(b'\n');
                let mut f = self.jsonl.lock().expect("the file lock");
                f.write_all(&line).expect("append");
                f.sync_data().expect("fsync");
            }
            (Backend::Sqlite, Local::Sqlite(conn)) => {
                let rec = baseline_record(&self.template, w, k);
                let json = serde_json::to_string(&rec).expect("encode");
                sqlite_insert(conn, &rec, &json, &self.busy);
            }
            (Backend::Sqlite, Local::Nothing) => unreachable!("SQLite writers have a connection"),
        }
    }

    fn close(self) {
        self.store.close().expect("close the store");
        drop(self.sqlite_keeper);
    }
}

/// A record like the one `store.create` makes, for the baselines to write.
fn baseline_record(template: &SessionRecord, writer: usize, k: u64) -> SessionRecord {
    let mut rec = template.clone();
    let now = Utc::now();
    rec.id = new_id();
    rec.created_at = now;
    rec.updated_at = now;
    rec.user_id = format!("writer-{writer}");
    rec.agent_id = format!("agent-{}", k % WRITER_AGENTS);
    rec.config.workspace_id = format!("ws-writer-{writer}");
    rec.config.name = format!("session {k}");
    rec.state.session_id = new_id();
    rec.state.reply_id = new_id();
    rec
}

/// (creates, elapsed) of one timed run.
type Run = (u64, Duration);

fn rate(run: Run) -> f64 {
    as_f64(run.0) / run.1.as_secs_f64()
}

/// Criterion's calls of one (backend, writers) benchmark.
struct CriterionRun {
    backend: Backend,
    writers: usize,
    calls: Vec<Run>,
}

/// One interleaved round: every backend, one after the other, for each writer count.
struct Round {
    runs: Vec<(Backend, usize, Run)>,
}

impl Round {
    fn rate(&self, backend: Backend, writers: usize) -> Option<f64> {
        self.runs
            .iter()
            .find(|r| r.0 == backend && r.1 == writers)
            .map(|r| rate(r.2))
    }
}

struct CreatesResult {
    record_bytes: usize,
    criterion: Vec<CriterionRun>,
    rounds: Vec<Round>,
    round_time: Duration,
    busy_retries: u64,
    /// The store's journal in the interleaved rounds, by writer count: (fsyncs, their total
    /// seconds, the lines they made durable).
    journal: Vec<(usize, u64, f64, f64)>,
}

impl CreatesResult {
    /// The median over criterion's measured samples of creates per second.
    fn criterion_rate(&self, backend: Backend, writers: usize) -> Option<f64> {
        let run = self
            .criterion
            .iter()
            .find(|r| r.backend == backend && r.writers == writers)?;
        let skip = run.calls.len().saturating_sub(SAMPLES);
        let mut rates: Vec<f64> = run.calls[skip..].iter().map(|&r| rate(r)).collect();
        median_f64(&mut rates)
    }

    /// The median over the interleaved rounds of `f(round)`.
    fn round_median(&self, f: impl Fn(&Round) -> Option<f64>) -> Option<f64> {
        let mut values: Vec<f64> = self.rounds.iter().filter_map(f).collect();
        median_f64(&mut values)
    }
}

fn median_f64(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn creates_part(c: &mut Criterion, cfg: &Config) -> CreatesResult {
    let tmp = cfg.temp_dir("creates");
    let targets = Targets::open(tmp.path());
    let record_bytes = serde_json::to_vec(&targets.template).expect("encode").len();

    // Criterion's statistics, one benchmark after the other.
    let mut group = c.benchmark_group("creates");
    group
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(cfg.create_time)
        .throughput(Throughput::Elements(1));
    let mut criterion = Vec::new();
    for &writers in &cfg.writers {
        for backend in Backend::ALL {
            let id = BenchmarkId::new(backend.name(), format!("{writers}_writers"));
            let mut calls = Vec::new();
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let run = run_writers(
                        writers,
                        Budget::Ops(iters),
                        |_| targets.local(backend),
                        |local, w, k| targets.create(backend, local, w, k),
                    );
                    calls.push(run);
                    run.1
                });
            });
            criterion.push(CriterionRun {
                backend,
                writers,
                calls,
            });
        }
    }
    group.finish();

    // The ratios: fsync latency on a shared disk drifts over seconds, so the backends are
    // compared in interleaved rounds, each backend run right after the others.
    let mut rounds = Vec::new();
    let mut journal: Vec<(usize, u64, f64, f64)> =
        cfg.writers.iter().map(|&w| (w, 0, 0.0, 0.0)).collect();
    for round in 0..cfg.create_rounds {
        let mut runs = Vec::new();
        for &writers in &cfg.writers {
            for j in 0..Backend::ALL.len() {
                let backend = Backend::ALL[(round + j) % Backend::ALL.len()];
                let before = targets.store.journal_stats().expect("a durable store");
                let run = run_writers(
                    writers,
                    Budget::Time(cfg.round_time),
                    |_| targets.local(backend),
                    |local, w, k| targets.create(backend, local, w, k),
                );
                if backend == Backend::Store {
                    let after = targets.store.journal_stats().expect("a durable store");
                    let k = cfg.writers.iter().position(|&w| w == writers).unwrap_or(0);
                    let (_, fsyncs, seconds, lines) = &mut journal[k];
                    *fsyncs += after.fsync_seconds.count - before.fsync_seconds.count;
                    *seconds += after.fsync_seconds.sum - before.fsync_seconds.sum;
                    *lines += after.group_commit_lines.sum - before.group_commit_lines.sum;
                }
                runs.push((backend, writers, run));
            }
        }
        rounds.push(Round { runs });
    }
    let busy_retries = targets.busy.load(Ordering::Relaxed);
    targets.close();
    CreatesResult {
        record_bytes,
        criterion,
        rounds,
        round_time: cfg.round_time,
        busy_retries,
        journal,
    }
}

/// How long a timed run lasts.
#[derive(Clone, Copy)]
enum Budget {
    /// This many operations in all, spread evenly over the writers.
    Ops(u64),
    /// Each writer goes on until this much time has passed.
    Time(Duration),
}

/// Runs operations on `writers` threads; returns how many, and the time from the moment the
/// threads are all ready (each made its state with `init`) to the moment the last one is done
/// (before the states are dropped).
fn run_writers<S>(
    writers: usize,
    budget: Budget,
    init: impl Fn(usize) -> S + Sync,
    op: impl Fn(&mut S, usize, u64) + Sync,
) -> Run {
    let ready = Barrier::new(writers + 1);
    let done = Barrier::new(writers + 1);
    let total = AtomicU64::new(0);
    let started = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(writers);
        for w in 0..writers {
            let (ready, done, init, op, total) = (&ready, &done, &init, &op, &total);
            handles.push(scope.spawn(move || {
                let mut state = init(w);
                ready.wait();
                let start = Instant::now();
                let mut k = 0;
                match budget {
                    Budget::Ops(iters) => {
                        let (w64, n) = (w as u64, writers as u64);
                        let ops = iters / n + u64::from(w64 < iters % n);
                        while k < ops {
                            op(&mut state, w, k);
                            k += 1;
                        }
                    }
                    Budget::Time(limit) => {
                        while start.elapsed() < limit {
                            op(&mut state, w, k);
                            k += 1;
                        }
                    }
                }
                total.fetch_add(k, Ordering::Relaxed);
                done.wait();
                drop(state);
            }));
        }
        ready.wait();
        let started = Instant::now();
        done.wait();
        let elapsed = started.elapsed();
        for h in handles {
            h.join().expect("a writer thread panicked");
        }
        elapsed
    });
    (total.load(Ordering::Relaxed), started)
}

fn sqlite_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open sqlite");
    conn.busy_timeout(Duration::from_secs(30))
        .expect("busy timeout");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .expect("WAL");
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous = FULL");
    conn
}

/// One autocommit INSERT; retried if SQLite is still busy after the busy timeout.
fn sqlite_insert(conn: &Connection, rec: &SessionRecord, json: &str, busy: &AtomicU64) {
    loop {
        let result = conn
            .prepare_cached(
                "INSERT INTO sessions (id, user_id, agent_id, created_at, json)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    rec.id,
                    rec.user_id,
                    rec.agent_id,
                    rec.created_at.timestamp_micros(),
                    json
                ])
            });
        match result {
            Ok(_) => return,
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                busy.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => panic!("sqlite insert: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The summary
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Summary {
    snapshots: Vec<SnapshotResult>,
    creates: Option<CreatesResult>,
    replay: Option<ReplayResult>,
}

/// A count as a float, for rates and ratios (exact below 2^53).
#[allow(clippy::cast_precision_loss)]
fn as_f64(x: u64) -> f64 {
    x as f64
}

fn mb_per_s(bytes: u64, t: Duration) -> f64 {
    as_f64(bytes) / 1e6 / t.as_secs_f64()
}

fn secs(t: Option<Duration>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| format!("{:.3}", t.as_secs_f64()))
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

impl Summary {
    fn print(&self, cfg: &Config) {
        println!();
        println!("## Durability benchmark summary");
        println!();
        if !self.snapshots.is_empty() {
            self.print_snapshots(cfg);
        }
        if let Some(creates) = &self.creates {
            creates.print(cfg);
        }
        if let Some(replay) = &self.replay {
            replay.print();
        }
    }

    fn print_snapshots(&self, cfg: &Config) {
        let n = cfg.sessions;
        println!(
            "### Full snapshot of N = {n} sessions (medians of criterion's {SAMPLES} samples)"
        );
        println!();
        println!(
            "| shards | fill (N inserts, `Never`) | first snapshot after fill | full save | \
             save MB/s | load | load MB/s | parse floor | load ÷ floor | snapshot bytes | \
             bytes/session | shard files |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for s in &self.snapshots {
            let save = s.full.median_time();
            let save_bytes = s.full.median_bytes().unwrap_or(s.first.1.bytes_written);
            let load = s.load.median_time();
            let floor = s.floor_parse.median_time();
            let ratio = match (load, floor) {
                (Some(l), Some(f)) => format!("{:.2}×", l.as_secs_f64() / f.as_secs_f64()),
                _ => "-".into(),
            };
            println!(
                "| {} | {:.1} s | {} s ({:.0} MB/s) | {} s | {} | {} s | {} | {} s | {} | {} | \
                 {:.0} | {} |",
                s.shards,
                s.fill_time.as_secs_f64(),
                secs(Some(s.first.0)),
                mb_per_s(s.first.1.bytes_written, s.first.0),
                secs(save),
                save.map_or_else(|| "-".into(), |t| format!("{:.0}", mb_per_s(save_bytes, t))),
                secs(load),
                load.map_or_else(
                    || "-".into(),
                    |t| format!("{:.0}", mb_per_s(s.snapshot_bytes, t))
                ),
                secs(floor),
                ratio,
                s.snapshot_bytes,
                as_f64(s.snapshot_bytes) / as_f64(n as u64),
                s.snapshot_files,
            );
        }
        println!();
        println!(
            "### Autosave after {AUTOSAVE_CHANGES} changes (updates of random sessions) \
             vs a full snapshot; target: at most 5%"
        );
        println!();
        println!(
            "Criterion's medians, and the ratio in paired rounds ({}: a full save, then an \
             autosave, back to back): median (min–max). The verdict is on the paired median.",
            cfg.snapshot_pairs
        );
        println!();
        println!(
            "| shards | autosave | shards rewritten | bytes written | full save | ratio of \
             medians | paired ratio | target ≤ 5% | vs full save at {} shards |",
            self.snapshots[0].shards
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---|---:|");
        let reference = self.snapshots[0].full.median_time();
        for s in &self.snapshots {
            let auto = s.autosave.median_time();
            let full = s.full.median_time();
            let ratio = |full: Option<Duration>| -> Option<f64> {
                Some(auto?.as_secs_f64() / full?.as_secs_f64())
            };
            let mut paired: Vec<f64> = s
                .pairs
                .iter()
                .map(|(f, a)| a.as_secs_f64() / f.as_secs_f64())
                .collect();
            let paired_median = median_f64(&mut paired);
            println!(
                "| {} | {} s | {} of {} | {} | {} s | {} | {} | {} | {} |",
                s.shards,
                secs(auto),
                s.autosave
                    .median_shards()
                    .map_or_else(|| "-".into(), |x| x.to_string()),
                s.shards,
                s.autosave
                    .median_bytes()
                    .map_or_else(|| "-".into(), |x| x.to_string()),
                secs(full),
                percent(ratio(full)),
                paired_median.map_or_else(
                    || "-".into(),
                    |m| format!(
                        "{} ({}–{})",
                        percent(Some(m)),
                        percent(paired.first().copied()),
                        percent(paired.last().copied())
                    )
                ),
                paired_median.map_or("-", |r| verdict(r <= 0.05)),
                percent(ratio(reference)),
            );
        }
        println!();
    }
}

fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

fn times(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}×"))
}

fn per_s(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.0}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

impl CreatesResult {
    fn writers(&self) -> Vec<usize> {
        let mut writers: Vec<usize> = self.criterion.iter().map(|r| r.writers).collect();
        writers.dedup();
        writers
    }

    fn print(&self, cfg: &Config) {
        println!(
            "### Durable creates per second (record: {} bytes of JSON)",
            self.record_bytes
        );
        println!();
        println!("Criterion's benchmarks, one after the other (median of {SAMPLES} samples):");
        println!();
        println!(
            "| writers | store, `Always` (group commit) | JSON lines, fsync per write | \
             SQLite WAL `synchronous=FULL` | store / JSON lines | store / SQLite |"
        );
        println!("|---:|---:|---:|---:|---:|---:|");
        for w in self.writers() {
            let (s, j, q) = (
                self.criterion_rate(Backend::Store, w),
                self.criterion_rate(Backend::JsonLines, w),
                self.criterion_rate(Backend::Sqlite, w),
            );
            println!(
                "| {w} | {} | {} | {} | {} | {} |",
                per_s(s),
                per_s(j),
                per_s(q),
                times(ratio(s, j)),
                times(ratio(s, q)),
            );
        }
        println!();
        println!(
            "Interleaved rounds ({}), each running every backend for {:.1} s right after the \
             others; medians of the rates, and of the per-round ratios (min–max):",
            self.rounds.len(),
            self.round_time.as_secs_f64()
        );
        println!();
        println!("| writers | store | JSON lines | SQLite | store / JSON lines | store / SQLite |");
        println!("|---:|---:|---:|---:|---:|---:|");
        let spread = |f: &dyn Fn(&Round) -> Option<f64>| -> String {
            let mut v: Vec<f64> = self.rounds.iter().filter_map(f).collect();
            v.sort_by(f64::total_cmp);
            format!(
                "{} ({}–{})",
                times(self.round_median(f)),
                times(v.first().copied()),
                times(v.last().copied())
            )
        };
        for w in self.writers() {
            let med = |b: Backend| per_s(self.round_median(|r| r.rate(b, w)));
            println!(
                "| {w} | {} | {} | {} | {} | {} |",
                med(Backend::Store),
                med(Backend::JsonLines),
                med(Backend::Sqlite),
                spread(&|r| ratio(r.rate(Backend::Store, w), r.rate(Backend::JsonLines, w))),
                spread(&|r| ratio(r.rate(Backend::Store, w), r.rate(Backend::Sqlite, w))),
            );
        }
        println!();
        println!(
            "SQLite busy errors retried after the 30 s busy timeout: {}.",
            self.busy_retries
        );
        println!();
        for &(writers, fsyncs, seconds, lines) in &self.journal {
            if fsyncs > 0 {
                let n = as_f64(fsyncs);
                println!(
                    "The store's journal in the rounds, {writers} writer(s): {fsyncs} fsyncs, \
                     {:.0} µs each on average, {:.1} lines per fsync.",
                    seconds / n * 1e6,
                    lines / n
                );
            }
        }
        println!();
        let w = *cfg.writers.iter().max().unwrap_or(&1);
        let vs = |b: Backend| self.round_median(|r| ratio(r.rate(Backend::Store, w), r.rate(b, w)));
        let (vs_jsonl, vs_sqlite) = (vs(Backend::JsonLines), vs(Backend::Sqlite));
        println!("| target ({w} writers, interleaved medians) | measured | verdict |");
        println!("|---|---:|---|");
        println!(
            "| store ≥ 4× one fsync per write | {} | {} |",
            times(vs_jsonl),
            vs_jsonl.map_or("-", |r| verdict(r >= 4.0))
        );
        println!(
            "| store ≥ 2× SQLite | {} | {} |",
            times(vs_sqlite),
            vs_sqlite.map_or("-", |r| verdict(r >= 2.0))
        );
        println!();
    }
}
