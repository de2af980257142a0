//! The write-ahead journal: JSON lines of the changes made since the last snapshot.
//!
//! Lines are appended to an in-memory buffer under the changed partition's write lock, so the
//! journal's order is the order in which each partition changed. A writer then calls
//! [`Journal::commit`] with its line's sequence number, outside every store lock.
//!
//! Under `Always`, commits are grouped by a leader and followers: a writer whose line is not
//! yet fsynced becomes the leader if nobody is syncing, and otherwise waits on a condition
//! variable without holding the file lock. The leader takes the file lock, writes every
//! buffered line (its followers' too), fsyncs once, and on stepping down wakes every
//! follower: those whose lines it made durable return, and one of the others leads the next
//! group. Under the other policies a commit only writes the buffer, under the file lock.
//!
//! A new leader first lets the writers the last group released append their next lines: it
//! yields the CPU up to once per such writer, and stops as soon as a yield brought no new
//! line. Otherwise it would fsync without them and they would wait for the fsync after. In the
//! durability benchmark (8 writers, 2 cores) this made about a third more creates share each
//! fsync. A lone writer never yields (nobody was released), and no clock is involved.
//!
//! The file is zero-filled ahead of its lines (format versions 2 and 3, see
//! `journal_format.rs`) by a thread of the journal's own, `fill_ahead`, which writes the zeros
//! a piece at a time and fdatasyncs each piece. A line written over those zeros lands in blocks the file already
//! has, inside its length, so the leader's `sync_data` flushes data only: no size or extent
//! change to commit. The leader never waits for that thread, except when its write reaches the
//! one piece being written at that moment; past the zero-filled space it writes anyway and the
//! file grows, as without the preallocation (that fsync then commits metadata too).
//!
//! Invariant: every byte of the file after the log's end (`FileState::end`) is zero. The leader
//! writes only at the end; the filler only at or past `SpaceState::zeroed`, which is never
//! below an end the leader reserved. On drop, once everything is fsynced, the padding is cut
//! off, so a closed directory holds no zeros (a crash leaves them; recovery reads past them).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::files::{self, io_error, write_at};
use super::journal_format::{file_name, header_line};
use crate::stats::{AtomicHistogram, FSYNC_SECONDS, GROUP_LINES};
use crate::{JournalStats, StoreError};

/// When the journal is fsynced.
///
/// Under every policy a write is in the operating system's hands before it returns, so it
/// survives the process being killed. What survives a power loss or an OS crash differs:
///
/// ```
/// use agent_sessions::FsyncPolicy;
/// use std::time::Duration;
/// assert_eq!(FsyncPolicy::default(), FsyncPolicy::Always);
/// let relaxed = FsyncPolicy::Every(Duration::from_millis(100));
/// # let _ = relaxed;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every write is on disk before it returns; concurrent writers share one fsync.
    #[default]
    Always,
    /// The journal is fsynced at this interval: a power loss may lose the last interval.
    Every(Duration),
    /// Never fsynced except at snapshots and close: a power loss may lose anything since the
    /// last snapshot.
    Never,
}

#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    /// The sequence number of the last line appended.
    seq: u64,
}

#[derive(Debug)]
struct FileState {
    /// Shared with the filler, which writes zeros past the end.
    file: Arc<File>,
    path: PathBuf,
    number: u64,
    /// The log's end: the header and every line written are before it; zeros after it.
    end: u64,
    /// Lines up to this sequence number are in the file.
    written: u64,
    /// Lines up to this sequence number are fsynced.
    synced: u64,
    /// Set by the first failed write; every later commit fails.
    failed: Option<String>,
    /// How many fsyncs the journal made, for the tests of group commit.
    #[cfg(test)]
    fsyncs: u64,
}

/// The group commit's state, guarded by `Journal::group`. That lock is never held during I/O
/// and never held while taking the file lock (which may be held while taking it).
#[derive(Debug, Default)]
struct Group {
    /// Lines up to this sequence number are fsynced: `FileState::synced`, published under the
    /// file lock right after each fsync, so a committer can read it without that lock.
    synced: u64,
    /// A leader is writing and fsyncing on behalf of every buffered line. Only the leader
    /// clears it, and it then wakes every waiter: a committer waits only while this is set,
    /// so no wakeup is lost.
    leading: bool,
    /// Committers waiting on `Journal::led`.
    waiting: usize,
    /// How many waiters the last leader woke when it stepped down: the writers that may be
    /// about to append again, whom the next leader waits for (see the module's docs).
    released: usize,
}

/// Which file [`Journal::open`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// A new file of the version this crate writes. Only for a file that is absent or holds nothing to keep: it is
    /// emptied.
    New,
    /// An existing file of the version this crate writes, whose log ends at byte `end` (zeros may follow).
    Append { end: u64 },
}

/// The journal of a durable store.
#[derive(Debug)]
pub(crate) struct Journal {
    /// Every fsync's duration and group size, recorded under the file lock after the fsync.
    stats: JournalCounters,
    dir: PathBuf,
    policy: FsyncPolicy,
    /// Lock order: `file` before `pending`; `pending` may be taken under a partition lock.
    pending: Mutex<Pending>,
    file: Mutex<FileState>,
    /// Set with `FileState::failed`, readable without waiting for the file lock. Set before
    /// the failing leader steps down, so its followers see it when they wake.
    poisoned: AtomicBool,
    /// Lock order: `file` before `group`; `group` and `pending` are never held together.
    group: Mutex<Group>,
    /// Signalled when a leader steps down.
    led: Condvar,
    /// The zero-filled space ahead of the log, shared with the filler thread.
    space: Arc<Space>,
    /// The filler thread, joined on drop.
    filler: Option<JoinHandle<()>>,
}

impl Journal {
    /// Opens journal number `number` in `dir` for appending (see [`Start`]), and starts the
    /// thread that zero-fills the file ahead of its lines.
    pub(crate) fn open(
        dir: &Path,
        number: u64,
        policy: FsyncPolicy,
        start: Start,
    ) -> Result<Self, StoreError> {
        let path = dir.join(file_name(number));
        let (file, end) = match start {
            Start::New => new_file(&path),
            Start::Append { end } => files::open_rw(&path, false).and_then(|file| {
                // The padding a killed process left may be in the page cache only.
                file.sync_data()?;
                Ok((file, end))
            }),
        }
        .map_err(io_error(&path))?;
        files::sync_dir(dir).map_err(io_error(dir))?;
        let file = Arc::new(file);
        let zeroed = file.metadata().map_err(io_error(&path))?.len().max(end);
        let space = Arc::new(Space {
            state: Mutex::new(SpaceState {
                file: Arc::clone(&file),
                generation: 0,
                end,
                zeroed,
                filling: None,
                failed: false,
                stop: false,
            }),
            changed: Condvar::new(),
        });
        let filler = {
            let space = Arc::clone(&space);
            std::thread::Builder::new()
                .name("agent-sessions-journal".into())
                .spawn(move || fill_ahead(&space))
                .map_err(io_error(&path))?
        };
        Ok(Self {
            stats: JournalCounters::default(),
            dir: dir.to_path_buf(),
            policy,
            pending: Mutex::new(Pending {
                bytes: Vec::new(),
                seq: 0,
            }),
            file: Mutex::new(FileState {
                file,
                path,
                number,
                end,
                written: 0,
                synced: 0,
                failed: None,
                #[cfg(test)]
                fsyncs: 0,
            }),
            poisoned: AtomicBool::new(false),
            group: Mutex::new(Group::default()),
            led: Condvar::new(),
            space,
            filler: Some(filler),
        })
    }

    /// What the journal has done since it was opened.
    pub(crate) fn stats(&self) -> JournalStats {
        JournalStats {
            fsync_seconds: self.stats.fsync_seconds.snapshot(),
            group_commit_lines: self.stats.group_lines.snapshot(),
        }
    }

    /// Fails with `Poisoned` once a journal write has failed.
    pub(crate) fn check_healthy(&self) -> Result<(), StoreError> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(self.poisoned_error())
    }

    /// The error of a commit after a failed journal write. Takes the file lock.
    fn poisoned_error(&self) -> StoreError {
        let reason = self.file.lock().failed.clone().unwrap_or_default();
        StoreError::Poisoned { reason }
    }

    /// Appends a line (made by an encoder of `journal_format`); returns its sequence number.
    pub(crate) fn append_line(&self, line: &[u8]) -> u64 {
        let mut p = self.pending.lock();
        p.bytes.extend_from_slice(line);
        p.seq += 1;
        p.seq
    }

    /// Returns once line `seq` is as durable as the policy promises (written; and fsynced
    /// under `Always`). Blocks on file I/O; call it with no store lock held.
    ///
    /// A line that was made durable is acknowledged even if a later write fails; a line that
    /// was not fails with the write's error (the caller that made it) or `Poisoned` (all
    /// others), and so does every later commit.
    pub(crate) fn commit(&self, seq: u64) -> Result<(), StoreError> {
        if self.policy == FsyncPolicy::Always {
            return self.commit_synced(seq);
        }
        let mut f = self.file.lock();
        if f.written >= seq {
            return Ok(());
        }
        self.flush_locked(&mut f, false)
    }

    /// [`Self::commit`] under `Always`: leads a group commit or waits for the one under way.
    fn commit_synced(&self, seq: u64) -> Result<(), StoreError> {
        let mut g = self.group.lock();
        loop {
            // Checked before `poisoned`: a line fsynced before a failure stays acknowledged.
            if g.synced >= seq {
                return Ok(());
            }
            if self.poisoned.load(Ordering::Acquire) {
                drop(g); // lock order: the error reads the file state
                return Err(self.poisoned_error());
            }
            if g.leading {
                g.waiting += 1;
                self.led.wait(&mut g);
                g.waiting -= 1;
                continue;
            }
            g.leading = true;
            let released = g.released;
            drop(g);
            self.let_released_writers_append(released);
            let result = {
                // Declared first, so dropped last: steps down after the file lock is released,
                // even if the flush panics.
                let _leader = StepDown(self);
                let mut f = self.file.lock();
                // Our line was buffered before this call, so the flush covers it: on success
                // `synced >= seq` is published (here, or by a `sync`/`rotate` that ran first).
                self.flush_locked(&mut f, true)
            };
            result?;
            g = self.group.lock();
        }
    }

    /// Run by a new leader before it takes the buffer: yields at most `released` times, and
    /// stops once a yield brought no new line. Holds no lock while yielding.
    fn let_released_writers_append(&self, released: usize) {
        let mut seen = self.pending.lock().seq;
        for _ in 0..released {
            std::thread::yield_now();
            let now = self.pending.lock().seq;
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// Writes every buffered line and fsyncs the journal.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        let mut f = self.file.lock();
        self.flush_locked(&mut f, true)
    }

    /// Ends the current journal file and starts number + 1; returns the new number. Every line
    /// appended before the call is in the old file, fsynced; every line after, in the new one.
    pub(crate) fn rotate(&self) -> Result<u64, StoreError> {
        let mut f = self.file.lock();
        self.flush_locked(&mut f, true)?;
        let number = f.number + 1;
        let path = self.dir.join(file_name(number));
        let (file, end) = new_file(&path).map_err(io_error(&path))?;
        files::sync_dir(&self.dir).map_err(io_error(&path))?;
        // The old file keeps its padding: the snapshot under way removes it.
        f.file = Arc::new(file);
        f.path = path;
        f.number = number;
        f.end = end;
        self.space.switch(Arc::clone(&f.file), end);
        Ok(number)
    }

    fn flush_locked(&self, f: &mut FileState, fsync: bool) -> Result<(), StoreError> {
        if let Some(reason) = &f.failed {
            return Err(StoreError::Poisoned {
                reason: reason.clone(),
            });
        }
        let (bytes, upto) = {
            let mut p = self.pending.lock();
            (std::mem::take(&mut p.bytes), p.seq)
        };
        let result: io::Result<()> = (|| {
            if !bytes.is_empty() {
                let end = f.end + bytes.len() as u64;
                self.space.reserve(end);
                write_at(&f.file, &bytes, f.end)?;
                f.end = end;
            }
            f.written = upto;
            if fsync && f.synced < upto {
                let started = Instant::now();
                f.file.sync_data()?;
                self.stats.fsynced(started.elapsed(), upto - f.synced);
                #[cfg(test)]
                {
                    f.fsyncs += 1;
                }
                f.synced = upto;
                // Published before the file lock is released, so before any later failure.
                self.group.lock().synced = upto;
            }
            Ok(())
        })();
        result.map_err(|source| {
            f.failed = Some(format!("{}: {source}", f.path.display()));
            self.poisoned.store(true, Ordering::Release);
            io_error(&f.path)(source)
        })
    }
}

impl Drop for Journal {
    /// Stops the filler, then cuts the padding off if every line is fsynced (the store's drop
    /// syncs first), so a closed journal ends with its last line. Best effort: padding left
    /// behind is valid, and read past at the next open.
    fn drop(&mut self) {
        self.space.state.lock().stop = true;
        self.space.changed.notify_all();
        if let Some(filler) = self.filler.take() {
            let _ = filler.join();
        }
        let f = self.file.get_mut();
        let all_synced = f.failed.is_none() && f.synced == self.pending.get_mut().seq;
        if all_synced && f.file.set_len(f.end).is_ok() {
            let _ = f.file.sync_data();
        }
    }
}

/// Creates (or empties) a journal file of the version this crate writes and writes its
/// header, fsynced; returns it with the log's end.
fn new_file(path: &Path) -> io::Result<(File, u64)> {
    let file = files::open_rw(path, true)?;
    let header = header_line();
    write_at(&file, &header, 0)?;
    file.sync_data()?;
    Ok((file, header.len() as u64))
}

/// How much zero-filled space the filler keeps ahead of the log: as much as the log holds,
/// within these bounds, topped up once less than half of it is left.
const MIN_AHEAD: u64 = 512 << 10;
const MAX_AHEAD: u64 = 16 << 20;
/// The filler writes zeros a piece at a time, each fdatasynced before the next.
const PIECE: u64 = 256 << 10;

fn ahead(end: u64) -> u64 {
    end.clamp(MIN_AHEAD, MAX_AHEAD)
}

/// The space after the log: guarded by `state`; `changed` is signalled when the log grows
/// (for the filler) and when a piece of zeros is written (for a leader waiting on it).
#[derive(Debug)]
struct Space {
    state: Mutex<SpaceState>,
    changed: Condvar,
}

#[derive(Debug)]
struct SpaceState {
    /// The current journal file.
    file: Arc<File>,
    /// Bumped when the journal moves to a new file: the filler drops news of an older one.
    generation: u64,
    /// The log's end, as reserved by the leader before it writes up to it.
    end: u64,
    /// Every byte before this is written (a line or a zero): the file's length as far as this
    /// journal's writes go. Never below `end`.
    zeroed: u64,
    /// While the filler writes zeros from `zeroed` up to this; a leader whose write would
    /// pass `zeroed` waits until it is done.
    filling: Option<u64>,
    /// A fill failed (the disk is full, say): no more on this file, which grows with its
    /// lines from then on.
    failed: bool,
    stop: bool,
}

impl Space {
    /// Called by the leader before it writes up to `end`: waits while the filler is writing
    /// the zeros that write would reach, then claims the space, so no zeros land on it.
    fn reserve(&self, end: u64) {
        let mut s = self.state.lock();
        while s.filling.is_some() && end > s.zeroed {
            self.changed.wait(&mut s);
        }
        s.end = end;
        s.zeroed = s.zeroed.max(end);
        if s.needs_fill() {
            self.changed.notify_all();
        }
    }

    /// The journal moved on to `file`, whose log ends at `end`.
    fn switch(&self, file: Arc<File>, end: u64) {
        let mut s = self.state.lock();
        s.file = file;
        s.generation += 1;
        s.end = end;
        s.zeroed = end;
        s.filling = None;
        s.failed = false;
        self.changed.notify_all();
    }
}

impl SpaceState {
    fn needs_fill(&self) -> bool {
        !self.failed && self.zeroed < self.end + ahead(self.end) / 2
    }
}

/// The filler thread: keeps `ahead(end)` zero-filled bytes after the log, a fsynced piece at a
/// time, writing outside the lock; ends when the journal is dropped.
fn fill_ahead(space: &Space) {
    let zeros = vec![0u8; usize::try_from(PIECE).unwrap_or(usize::MAX)];
    let mut s = space.state.lock();
    loop {
        if s.stop {
            return;
        }
        if !s.needs_fill() {
            space.changed.wait(&mut s);
            continue;
        }
        let (file, generation, from) = (Arc::clone(&s.file), s.generation, s.zeroed);
        let to = (s.end + ahead(s.end)).min(from + PIECE);
        s.filling = Some(to);
        // Below PIECE, so it fits.
        #[allow(clippy::cast_possible_truncation)]
        let piece = &zeros[..(to - from) as usize];
        let written = MutexGuard::unlocked(&mut s, || write_at(&file, piece, from));
        if s.generation == generation {
            s.filling = None;
            match written {
                Ok(()) => s.zeroed = to,
                Err(_) => s.failed = true,
            }
            space.changed.notify_all();
        }
        if written.is_ok() {
            let synced = MutexGuard::unlocked(&mut s, || file.sync_data());
            if synced.is_err() && s.generation == generation {
                s.failed = true;
            }
        }
    }
}

/// The journal's own counters (see [`JournalStats`]).
#[derive(Debug)]
struct JournalCounters {
    fsync_seconds: AtomicHistogram,
    group_lines: AtomicHistogram,
}

impl Default for JournalCounters {
    fn default() -> Self {
        Self {
            fsync_seconds: AtomicHistogram::new(FSYNC_SECONDS, 1e-9),
            group_lines: AtomicHistogram::new(GROUP_LINES, 1.0),
        }
    }
}

impl JournalCounters {
    /// An fsync that took `took` made `lines` lines durable.
    fn fsynced(&self, took: Duration, lines: u64) {
        self.fsync_seconds.record_duration(took);
        self.group_lines.record_units(lines);
    }
}

/// Held by the leader of a group commit: on drop, clears `leading` and wakes every waiter.
struct StepDown<'a>(&'a Journal);

impl Drop for StepDown<'_> {
    fn drop(&mut self) {
        let mut g = self.0.group.lock();
        g.leading = false;
        g.released = g.waiting;
        if g.waiting > 0 {
            self.0.led.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::thread;
    use std::time::{Duration, Instant};

    use super::*;

    const COMMITTERS: usize = 8;

    /// The lines of a journal file: after its header, before its padding.
    fn lines_of(path: &Path) -> Vec<u8> {
        let bytes = std::fs::read(path).unwrap();
        let header = header_line();
        assert!(bytes.starts_with(&header), "no header");
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        bytes[header.len()..end.max(header.len())].to_vec()
    }

    /// Starts `COMMITTERS` threads that each append a line and commit it while the test holds
    /// the file lock, so the first to commit leads and blocks on that lock. Once every other
    /// one waits behind it, `release` runs (it drops the lock); returns what each commit gave.
    fn commit_behind_a_blocked_leader(
        j: &Journal,
        release: impl FnOnce(),
    ) -> Vec<Result<(), StoreError>> {
        thread::scope(|s| {
            let handles: Vec<_> = (0..COMMITTERS)
                .map(|i| {
                    s.spawn(move || {
                        let seq = j.append_line(format!("{{\"line\":{i}}}\n").as_bytes());
                        j.commit(seq)
                    })
                })
                .collect();
            // Not a timing assertion: a bound on a wait that normally takes microseconds.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let g = j.group.lock();
                if g.leading && g.waiting == COMMITTERS - 1 {
                    break;
                }
                drop(g);
                assert!(Instant::now() < deadline, "the committers never queued");
                thread::yield_now();
            }
            release();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn committers_queued_behind_a_leader_share_its_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), 1, FsyncPolicy::Always, Start::New).unwrap();
        let file = j.file.lock();
        let results = commit_behind_a_blocked_leader(&j, || drop(file));
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let f = j.file.lock();
        assert_eq!(f.fsyncs, 1, "{COMMITTERS} commits, one fsync");
        // The next leader lets the followers that leader woke append first.
        assert_eq!(j.group.lock().released, COMMITTERS - 1);
        assert_eq!(f.synced, COMMITTERS as u64);
        let text = String::from_utf8(lines_of(&f.path)).unwrap();
        for i in 0..COMMITTERS {
            assert!(text.contains(&format!("{{\"line\":{i}}}\n")), "line {i}");
        }
        assert_eq!(text.lines().count(), COMMITTERS);
        // The stats saw one fsync that made every committer's line durable.
        let stats = j.stats();
        assert_eq!(stats.fsync_seconds.count, 1);
        assert_eq!(stats.group_commit_lines.count, 1);
        let lines = stats.group_commit_lines.sum;
        assert!(
            (lines - 8.0).abs() < f64::EPSILON,
            "{lines}: {COMMITTERS} lines"
        );
        let eight = stats
            .group_commit_lines
            .buckets
            .iter()
            .find(|(b, _)| (*b - 8.0).abs() < f64::EPSILON);
        assert_eq!(eight, Some(&(8.0, 1)));
    }

    /// Writers racing the filler over many pieces: every line lands once, in each writer's
    /// order, no zeros land on a line, and only zeros follow the last one.
    #[test]
    fn lines_and_the_filler_never_overlap() {
        const WRITERS: usize = 4;
        const LINES: usize = 3000;
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), 1, FsyncPolicy::Never, Start::New).unwrap();
        thread::scope(|s| {
            for w in 0..WRITERS {
                let j = &j;
                s.spawn(move || {
                    for i in 0..LINES {
                        let line =
                            format!("{{\"w\":{w},\"i\":{i},\"pad\":\"{}\"}}\n", "x".repeat(200));
                        let seq = j.append_line(line.as_bytes());
                        j.commit(seq).unwrap();
                    }
                });
            }
        });
        let f = j.file.lock();
        let bytes = std::fs::read(&f.path).unwrap();
        let end = usize::try_from(f.end).unwrap();
        // Unsynced writers may outrun the filler: there may be no padding left at the end.
        assert!(
            bytes[end..].iter().all(|&b| b == 0),
            "only zeros after the end"
        );
        let text = std::str::from_utf8(&bytes[header_line().len()..end]).unwrap();
        let mut next = [0; WRITERS];
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let w = usize::try_from(v["w"].as_u64().unwrap()).unwrap();
            assert_eq!(
                v["i"].as_u64().unwrap(),
                next[w] as u64,
                "writer {w}'s order"
            );
            next[w] += 1;
        }
        assert_eq!(next, [LINES; WRITERS]);
    }

    #[test]
    fn the_stats_count_each_fsync_and_the_lines_it_made_durable() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), 1, FsyncPolicy::Always, Start::New).unwrap();
        let fresh = j.stats();
        assert_eq!(
            (fresh.fsync_seconds.count, fresh.group_commit_lines.count),
            (0, 0)
        );
        for _ in 0..3 {
            j.append_line(b"{}\n");
        }
        j.sync().unwrap();
        let seq = j.append_line(b"{}\n");
        j.commit(seq).unwrap();
        j.sync().unwrap(); // nothing new: no fsync
        let stats = j.stats();
        assert_eq!(stats.fsync_seconds.count, 2);
        assert!(stats.fsync_seconds.sum > 0.0);
        assert_eq!(stats.group_commit_lines.count, 2);
        assert!((stats.group_commit_lines.sum - 4.0).abs() < f64::EPSILON);
    }

    #[test]
    fn a_commit_whose_line_a_sync_made_durable_does_not_fsync_again() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), 1, FsyncPolicy::Always, Start::New).unwrap();
        let a = j.append_line(b"{}\n");
        let b = j.append_line(b"{}\n");
        j.sync().unwrap();
        j.commit(a).unwrap();
        j.commit(b).unwrap();
        assert_eq!(j.file.lock().fsyncs, 1);
        let c = j.append_line(b"{}\n");
        j.commit(c).unwrap();
        assert_eq!(j.file.lock().fsyncs, 2);
    }

    #[test]
    fn other_policies_write_on_commit_and_never_fsync() {
        for policy in [
            FsyncPolicy::Never,
            FsyncPolicy::Every(Duration::from_secs(3600)),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let j = Journal::open(dir.path(), 1, policy, Start::New).unwrap();
            let seq = j.append_line(b"{}\n");
            j.commit(seq).unwrap();
            let f = j.file.lock();
            assert_eq!((f.written, f.synced, f.fsyncs), (1, 0, 0), "{policy:?}");
            assert_eq!(lines_of(&f.path), b"{}\n");
        }
    }

    /// Fsync fails with `EINVAL` on `/dev/null`, and writes to it succeed.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_fsync_fails_every_commit_it_did_not_make_durable() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), 1, FsyncPolicy::Always, Start::New).unwrap();
        let durable = j.append_line(b"{}\n");
        j.commit(durable).unwrap();

        let null = File::options().write(true).open("/dev/null").unwrap();
        let mut file = j.file.lock();
        file.file = Arc::new(null);
        let results = commit_behind_a_blocked_leader(&j, || drop(file));

        let io_errors = results
            .iter()
            .filter(|r| {
                matches!(r, Err(StoreError::Io { source, .. })
                    if source.kind() == io::ErrorKind::InvalidInput)
            })
            .count();
        let poisoned = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Poisoned { .. })))
            .count();
        // The leader gets the fsync's error, each follower `Poisoned`.
        assert_eq!((io_errors, poisoned), (1, COMMITTERS - 1), "{results:?}");
        assert!(matches!(
            j.check_healthy(),
            Err(StoreError::Poisoned { .. })
        ));
        // What was acknowledged stays acknowledged; nothing new is.
        j.commit(durable).unwrap();
        let later = j.append_line(b"{}\n");
        assert!(matches!(j.commit(later), Err(StoreError::Poisoned { .. })));
        assert!(matches!(j.sync(), Err(StoreError::Poisoned { .. })));
        assert_eq!(j.file.lock().synced, durable);
    }
}
