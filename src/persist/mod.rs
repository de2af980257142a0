//! Durability: a directory holding a snapshot (manifest and shard files) and a journal of
//! the changes since, owned by one store at a time.

mod async_commit;
mod files;
mod fingerprint;
mod format;
mod journal;
mod journal_format;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::StoreError;

pub(crate) use async_commit::Commit;
pub(crate) use files::{
    cut_file, io_error, remove_replaced_files, remove_temp_files, split_path, sync_dir,
    write_atomic, write_renamed,
};
pub(crate) use fingerprint::{checksum, encoder_fingerprint};
pub(crate) use format::{
    agents_file_name, corrupt, corrupt_at, decode_agents, decode_shard, decode_shard_keeping_bytes,
    encode_agents, encode_shard, is_snapshot_file_name, shard_file_name, Manifest, ShardRef,
    Stored, StoredRef, MANIFEST,
};
pub use journal::FsyncPolicy;
pub(crate) use journal::{Journal, Start as JournalStart};
pub(crate) use journal_format::{
    agent_del_line, agent_put_line, ctx_line, del_line, journal_files, msg_line, put_line,
    read_journal, Op, JOURNAL_VERSION,
};

/// What `open` found and repaired.
///
/// ```no_run
/// let store = agent_sessions::SessionStore::open("sessions")?;
/// if let Some(torn) = store.recovery().and_then(|r| r.torn_tail) {
///     eprintln!("dropped a torn journal line: {torn:?}");
/// }
/// # Ok::<(), agent_sessions::StoreError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// Sessions read from the snapshot.
    pub snapshot_sessions: usize,
    /// Of those, the ones encoded again because their stored bytes could not be served as
    /// they are: their shard file was written by a crate version whose encoder writes
    /// records differently, or with the other [`TimestampFormat`](crate::model::TimestampFormat),
    /// or was changed after it was written. The next snapshot writes their shards anew.
    pub snapshot_sessions_reencoded: usize,
    /// Journal lines replayed over it.
    pub journal_ops: usize,
    /// A last journal line cut short by a crash, which was dropped.
    pub torn_tail: Option<TornTail>,
    /// Temp files of interrupted writes, which were removed.
    pub temp_files_removed: Vec<String>,
}

/// A journal line cut short by a crash while it was appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The journal file.
    pub path: PathBuf,
    /// Its line number (from 1).
    pub line: usize,
    /// How many bytes were dropped.
    pub bytes: usize,
}

/// What a snapshot did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotReport {
    /// Shards that had changed and were written anew.
    pub shards_written: usize,
    /// Shards that had not changed and were kept as they were.
    pub shards_unchanged: usize,
    /// Sessions in the shards written.
    pub sessions_written: usize,
    /// Bytes written, manifest included.
    pub bytes_written: u64,
}

/// The durable side of a store.
#[derive(Debug)]
pub(crate) struct Durable {
    pub(crate) dir: PathBuf,
    /// Dropped before the committer, which holds the other reference: the journal is shut
    /// down (its filler joined, its padding cut) when the committer has stopped.
    pub(crate) journal: Arc<Journal>,
    /// The thread that commits for async writers, started by the first of them.
    committer: OnceLock<async_commit::Committer>,
    /// Per shard: how many changes it has had since open.
    pub(crate) changes: Box<[AtomicU64]>,
    /// How many changes the agent registry has had since open.
    pub(crate) agent_changes: AtomicU64,
    /// The last snapshot's view; its lock also serializes snapshots.
    pub(crate) saved: Mutex<Saved>,
    pub(crate) recovery: Recovery,
    /// Held (locked) for the store's lifetime. Declared last, so dropped last: the next store
    /// gets the directory only once this one's journal is shut down and no longer writes.
    _lock: File,
}

/// What the last snapshot wrote, per shard.
#[derive(Debug)]
pub(crate) struct Saved {
    /// The change count each shard had when it was captured.
    pub(crate) changes: Vec<u64>,
    /// The file holding each shard, if it has one that is current.
    pub(crate) files: Vec<Option<ShardRef>>,
    /// The agent registry's change count when it was captured.
    pub(crate) agent_changes: u64,
    /// Whether `agents` is current: false until the first snapshot of a new directory.
    pub(crate) agents_current: bool,
    /// The agents file; `None` when no agent is registered.
    pub(crate) agents: Option<String>,
}

impl Durable {
    pub(crate) fn new(
        dir: PathBuf,
        lock: File,
        journal: Journal,
        changes: Box<[AtomicU64]>,
        agent_changes: u64,
        saved: Saved,
        recovery: Recovery,
    ) -> Self {
        Self {
            dir,
            journal: Arc::new(journal),
            committer: OnceLock::new(),
            changes,
            agent_changes: AtomicU64::new(agent_changes),
            saved: Mutex::new(saved),
            recovery,
            _lock: lock,
        }
    }
}

impl Durable {
    /// Completes once journal line `seq` is committed, without blocking the caller's thread:
    /// the commit is made by a thread of the store's (started on first use).
    pub(crate) fn commit_async(&self, seq: u64) -> Result<Commit, StoreError> {
        if let Some(c) = self.committer.get() {
            return Ok(c.commit(seq));
        }
        let started = async_commit::Committer::start(Arc::clone(&self.journal))
            .map_err(io_error(&self.dir))?;
        // A racing first writer may have started one too: one is kept, the other stopped.
        Ok(self.committer.get_or_init(|| started).commit(seq))
    }
}

/// The lock file of a store directory.
pub(crate) const LOCK: &str = "LOCK";

/// Creates `dir` if needed and takes its lock, waiting up to `wait` while another holds it,
/// then fails with `Locked`.
pub(crate) fn lock_dir(dir: &Path, wait: Duration) -> Result<File, StoreError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let path = dir.join(LOCK);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error(&path))?;
    // A store just closed may hold the lock a moment longer: a process forked meanwhile holds
    // a copy of its descriptor until it execs, a thread of the old store may still be ending.
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(LOCK_POLL);
            }
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked { path }),
            Err(fs::TryLockError::Error(source)) => return Err(io_error(&path)(source)),
        }
    }
}

/// How often [`lock_dir`] tries the lock again while it waits.
const LOCK_POLL: Duration = Duration::from_millis(10);

/// The shard of a (user, agent): a hash that is the same in every process and version.
pub(crate) fn shard_of(user_id: &str, agent_id: &str, shards: usize) -> usize {
    // FNV-1a, 64-bit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in user_id.bytes().chain([0xff]).chain(agent_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // The modulus is below `shards`, a usize, so the cast is lossless.
    #[allow(clippy::cast_possible_truncation)]
    let shard = (h % shards.max(1) as u64) as usize;
    shard
}
