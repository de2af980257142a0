//! Opening a durable store: the directory's lock, its snapshot, and the journal replayed
//! over it.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::entry::Entry;
use super::state_save::appended;
use super::{SessionStore, SessionStoreBuilder};
use crate::encode::encode_context_message;
use crate::model::{parse_timestamp, Msg, SessionRecord};
use crate::persist::{
    self, corrupt_at, cut_file, decode_agents, decode_shard, decode_shard_keeping_bytes,
    encoder_fingerprint, io_error, journal_files, read_journal, shard_of, Durable, Journal,
    JournalStart, Manifest, Op, Recovery, Saved, ShardRef, Stored, TornTail, JOURNAL_VERSION,
    MANIFEST,
};
use crate::StoreError;

impl SessionStore {
    /// Opens the durable store in `dir` (created if needed) with the default settings: fsync
    /// on every write ([`FsyncPolicy::Always`](crate::FsyncPolicy::Always)), a snapshot every minute if anything changed.
    /// Use [`SessionStore::builder`] for other settings.
    ///
    /// Loads the snapshot, replays the journal over it, drops a journal line cut short by a
    /// crash (see [`SessionStore::recovery`]) and removes temp files of interrupted writes.
    /// Fails, changing no file, if another store has `dir` open ([`StoreError::Locked`]), or if
    /// a file is damaged ([`StoreError::Corrupt`], naming the file, line and column) or of an
    /// unknown format version ([`StoreError::UnsupportedVersion`]).
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let dir = tempfile::tempdir().unwrap();
    /// let id = {
    ///     let store = SessionStore::open(dir.path())?;
    ///     store.create(NewSession::new("u", "a").name("kept"))?.id.clone()
    /// }; // dropped: flushed
    /// let store = SessionStore::open(dir.path())?;
    /// assert_eq!(store.get("u", "a", &id).unwrap().config.name, "kept");
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::builder().open(dir)
    }

    pub(super) fn open_with(b: &SessionStoreBuilder, dir: &Path) -> Result<Self, StoreError> {
        let lock = persist::lock_dir(dir, b.lock_timeout)?;
        let store = Self::from_builder(b);
        let shards = store.inner.shards;
        let mut load = Load {
            dirty: vec![false; shards],
            files: vec![None; shards],
            last_version: 0,
            agents_dirty: false,
            recovery: Recovery::default(),
        };
        let manifest_path = dir.join(MANIFEST);
        let manifest = match fs::read(&manifest_path) {
            Ok(bytes) => Some(Manifest::decode(&manifest_path, &bytes)?),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(&manifest_path)(e)),
        };
        if let Some(m) = &manifest {
            store.load_snapshot(dir, m, &mut load)?;
        }
        let first_journal = manifest.as_ref().map_or(0, |m| m.journal);
        let journals = journal_files(dir, first_journal)?;
        // The last journal's layout version and the end of its log.
        let mut last = None;
        for (k, (_, path)) in journals.iter().enumerate() {
            let contents = read_journal(path, k + 1 == journals.len())?;
            last = Some((contents.version, contents.end as u64));
            for op in contents.ops {
                store.replay(op, path, &mut load)?;
            }
            if let Some((line, offset, bytes)) = contents.torn {
                cut_file(path, offset)?;
                load.recovery.torn_tail = Some(TornTail {
                    path: path.clone(),
                    line,
                    bytes,
                });
            }
        }
        // Everything read and found sound: only now are files changed (a torn tail was cut
        // above, after its journal was replayed; temp files of interrupted writes go here).
        load.recovery.temp_files_removed =
            persist::remove_temp_files(dir).map_err(io_error(dir))?;
        // Appends go on in the last journal if it is of the version this crate writes (its
        // lines end at `end`); after an older journal with lines (or a header), in a new one,
        // so that no file mixes versions.
        let last_no = journals.last().map_or(first_journal, |(n, _)| *n);
        let (journal_no, start) = match last {
            Some((v, end)) if v == JOURNAL_VERSION => (last_no, JournalStart::Append { end }),
            Some((_, end)) if end > 0 => (last_no + 1, JournalStart::New),
            _ => (last_no, JournalStart::New),
        };
        let journal = Journal::open(dir, journal_no, b.fsync, start)?;

        store
            .inner
            .last_version
            .store(load.last_version, Ordering::Relaxed);
        let changes = load
            .dirty
            .iter()
            .map(|&d| AtomicU64::new(u64::from(d)))
            .collect();
        let saved = Saved {
            changes: vec![0; shards],
            files: load.files,
            agent_changes: 0,
            agents_current: manifest.is_some(),
            agents: manifest.and_then(|m| m.agents),
        };
        let durable = Durable::new(
            dir.to_path_buf(),
            lock,
            journal,
            changes,
            u64::from(load.agents_dirty),
            saved,
            load.recovery,
        );
        // A fresh store: nobody else can have set it.
        let _ = store.inner.durable.set(durable);
        store.spawn_maintenance(b, dir)?;
        Ok(store)
    }

    /// Loads the shard and agents files `manifest` names. Shards are independent (a
    /// partition lives in one), so they are read, parsed and put in place on parallel
    /// threads; a damaged shard is reported as the first in the manifest's order would be.
    fn load_snapshot(&self, dir: &Path, m: &Manifest, load: &mut Load) -> Result<(), StoreError> {
        load.last_version = m.last_version;
        let same_layout = m.shards.len() == load.files.len();
        if same_layout {
            for (i, shard) in m.shards.iter().enumerate() {
                load.files[i] = Some(shard.clone());
            }
        }
        // Records whose bytes are served as stored (see `persist::fingerprint`): written by
        // this encoder in this store's timestamp format, in a file unchanged since.
        let same_encoder =
            m.records.is_some() && m.records == encoder_fingerprint(self.inner.timestamp_format);
        let files: Vec<(usize, &str, Option<u64>)> = m
            .shards
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let checksum = s.xxh3.filter(|_| same_encoder);
                Some((i, s.file.as_deref()?, checksum))
            })
            .collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(files.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut loaded: Vec<(usize, ShardLoad)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&(_, file, checksum)) = files.get(i) else {
                                break;
                            };
                            let result = self.load_shard(dir, file, checksum);
                            let failed = result.is_err();
                            done.push((i, result));
                            if failed {
                                break;
                            }
                        }
                        done
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        loaded.sort_by_key(|(i, _)| *i);
        for (i, result) in loaded {
            let (shard, loaded) = (files[i].0, result?);
            load.last_version = load.last_version.max(loaded.last_version);
            load.recovery.snapshot_sessions += loaded.sessions;
            load.recovery.snapshot_sessions_reencoded += loaded.reencoded;
            // Written anew by the next snapshot, with bytes that can be kept.
            if loaded.reencoded > 0 {
                load.dirty[shard] = true;
            }
        }
        if !same_layout {
            load.dirty.fill(true);
        }
        if let Some(file) = &m.agents {
            let path = dir.join(file);
            let bytes = read_named(file, dir)?;
            for agent in decode_agents(&path, &bytes)? {
                self.load_agent_put(agent);
            }
        }
        Ok(())
    }

    /// Loads one shard file. Its records' stored bytes become their cached JSON if the file's
    /// checksum is `checksum` (given only when the same encoder wrote it); otherwise each
    /// record is encoded again.
    fn load_shard(&self, dir: &Path, file: &str, checksum: Option<u64>) -> ShardLoad {
        let path = dir.join(file);
        let bytes = read_named(file, dir)?;
        let kept = checksum
            .filter(|&sum| persist::checksum(&bytes) == sum)
            .and_then(|_| decode_shard_keeping_bytes(&bytes));
        let mut loaded = LoadedShard::default();
        match kept {
            Some(sessions) => {
                for (stored, json) in sessions {
                    self.load_stored(&path, stored, Some(json), &mut loaded)?;
                }
            }
            None => {
                for stored in decode_shard(&path, &bytes)? {
                    self.load_stored(&path, stored, None, &mut loaded)?;
                }
            }
        }
        Ok(loaded)
    }

    /// Puts one session of shard file `path` in place, with its message history.
    fn load_stored(
        &self,
        path: &Path,
        stored: Stored,
        json: Option<&[u8]>,
        loaded: &mut LoadedShard,
    ) -> Result<(), StoreError> {
        loaded.last_version = loaded.last_version.max(stored.version);
        let (user, agent, id) = (
            stored.record.user_id.clone(),
            stored.record.agent_id.clone(),
            stored.record.id.clone(),
        );
        let kept = self
            .load_put(stored.version, stored.record, json)
            .map_err(|e| corrupt_at(path, 0, 0, e.to_string()))?;
        for (i, m) in stored.messages.into_iter().enumerate() {
            self.load_msg(&user, &agent, &id, i, m);
        }
        loaded.sessions += 1;
        loaded.reencoded += usize::from(!kept);
        Ok(())
    }

    /// Applies one journal line of `path`.
    fn replay(&self, op: Op, path: &Path, load: &mut Load) -> Result<(), StoreError> {
        let shards = self.inner.shards;
        match op {
            Op::Put { version, record } => {
                load.last_version = load.last_version.max(version);
                load.dirty[shard_of(&record.user_id, &record.agent_id, shards)] = true;
                self.load_put(version, *record, None)
                    .map_err(|e| corrupt_at(path, 0, 0, e.to_string()))?;
            }
            Op::Del {
                user_id,
                agent_id,
                ids,
            } => {
                load.dirty[shard_of(&user_id, &agent_id, shards)] = true;
                self.load_del(&user_id, &agent_id, &ids);
            }
            Op::Msg {
                user_id,
                agent_id,
                session_id,
                index,
                message,
            } => {
                load.dirty[shard_of(&user_id, &agent_id, shards)] = true;
                self.load_msg(&user_id, &agent_id, &session_id, index, *message);
            }
            Op::Ctx {
                user_id,
                agent_id,
                session_id,
                base,
                version,
                updated_at,
                messages,
            } => {
                load.last_version = load.last_version.max(version);
                load.dirty[shard_of(&user_id, &agent_id, shards)] = true;
                let ids = (user_id.as_str(), agent_id.as_str(), session_id.as_str());
                self.load_ctx(ids, (base, version), &updated_at, messages)
                    .map_err(|reason| corrupt_at(path, 0, 0, reason))?;
            }
            Op::AgentPut { record } => {
                load.agents_dirty = true;
                self.load_agent_put(*record);
            }
            Op::AgentDel { user_id, ids } => {
                load.agents_dirty = true;
                self.load_agent_del(&user_id, &ids);
            }
        }
        load.recovery.journal_ops += 1;
        Ok(())
    }

    /// What [`SessionStore::open`] found and repaired; `None` for an in-memory store.
    pub fn recovery(&self) -> Option<Recovery> {
        self.inner.durable.get().map(|d| d.recovery.clone())
    }

    /// The directory of a durable store; `None` for an in-memory store.
    pub fn dir(&self) -> Option<&Path> {
        self.inner.durable.get().map(|d| d.dir.as_path())
    }

    /// Puts a loaded session in place, replacing any with its id (whose message history
    /// stays, as an update keeps it), without journaling. `json` is the record's stored
    /// bytes when they may be served as they are; returns whether they were.
    fn load_put(
        &self,
        version: u64,
        mut record: SessionRecord,
        json: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        self.check_ids(&record.user_id, &record.agent_id, &record.id)?;
        let (created_at, updated_at) = (record.created_at, record.updated_at);
        record.created_at = crate::model::truncate_micros(created_at);
        record.updated_at = crate::model::truncate_micros(updated_at);
        let format = self.inner.timestamp_format;
        // This encoder never writes a timestamp finer than microseconds.
        let exact = record.created_at == created_at && record.updated_at == updated_at;
        let (entry, kept) = match json.filter(|_| exact) {
            Some(json) => (Entry::kept(record, version, json, format), true),
            None => (Entry::encode(record, version, usize::MAX, format)?, false),
        };
        let entry = Arc::new(entry);
        let part = self.partition_or_create(&entry.record.user_id, &entry.record.agent_id);
        let mut data = part.data.write();
        if data.by_id.contains_key(entry.id()) {
            data.replace(entry);
        } else {
            data.insert(entry);
            self.inner.len.fetch_add(1, Ordering::Relaxed);
        }
        Ok(kept)
    }

    /// Appends a `ctx` line's messages to the loaded session at version `base`, without
    /// journaling. A session already at `version` or later, or gone, was saved by a snapshot
    /// taken after the line was written (and a later line removes it): nothing to do.
    fn load_ctx(
        &self,
        (user_id, agent_id, id): (&str, &str, &str),
        (base, version): (u64, u64),
        updated_at: &str,
        messages: Vec<Msg>,
    ) -> Result<(), String> {
        let Some(part) = self.partition(user_id, agent_id) else {
            return Ok(());
        };
        let Some(current) = part.data.read().by_id.get(id).cloned() else {
            return Ok(());
        };
        if current.version >= version {
            return Ok(());
        }
        if current.version != base {
            return Err(format!(
                "it appends to version {base} of session {id:?}, which is at version {}",
                current.version
            ));
        }
        let updated_at = parse_timestamp(updated_at)
            .ok_or_else(|| format!("its updated_at is not a timestamp: {updated_at:?}"))?;
        let messages: Vec<Arc<Msg>> = messages.into_iter().map(Arc::new).collect();
        let encoded = messages
            .iter()
            .map(|m| encode_context_message(m))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let entry = appended(
            &current,
            &messages,
            &encoded,
            updated_at,
            version,
            usize::MAX,
        )
        .map_err(|e| e.to_string())?;
        // Replay runs on one thread: nothing replaced `current` meanwhile.
        part.data.write().replace(Arc::new(entry));
        Ok(())
    }

    /// Removes loaded sessions, without journaling.
    fn load_del(&self, user_id: &str, agent_id: &str, ids: &[String]) {
        let Some(part) = self.partition(user_id, agent_id) else {
            return;
        };
        let now_empty = {
            let mut data = part.data.write();
            for id in ids {
                if data.remove(id).is_some() {
                    self.inner.len.fetch_sub(1, Ordering::Relaxed);
                }
            }
            data.by_id.is_empty()
        };
        if now_empty {
            self.drop_partition_if_empty(user_id, agent_id, &part);
        }
    }
}

/// Reads a file the manifest names. A name that is not a snapshot file of this directory (a
/// path, say) is damage to the manifest; a file that is missing is damage too, reported as
/// such (naming the file), not as a disk failure.
fn read_named(name: &str, dir: &Path) -> Result<Vec<u8>, StoreError> {
    let plain = !name.contains(['/', '\\', '\0'])
        && name.len() <= 255
        && persist::is_snapshot_file_name(Path::new(name));
    if !plain {
        return Err(corrupt_at(
            &dir.join(MANIFEST),
            0,
            0,
            format!("it names {name:?}, which is not a snapshot file name"),
        ));
    }
    let path = dir.join(name);
    match fs::read(&path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(corrupt_at(
            &path,
            0,
            0,
            format!(
                "the file is missing, though {} names it",
                dir.join(MANIFEST).display()
            ),
        )),
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// What loading a shard gave.
type ShardLoad = Result<LoadedShard, StoreError>;

/// What loading a shard file found.
#[derive(Default)]
struct LoadedShard {
    /// Its largest version.
    last_version: u64,
    /// How many sessions it held.
    sessions: usize,
    /// How many of them were encoded again (their stored bytes not kept).
    reencoded: usize,
}

/// What loading a directory gathers before the store becomes durable.
struct Load {
    /// Shards that differ from their snapshot file.
    dirty: Vec<bool>,
    /// The snapshot's file of each shard, where the layout is unchanged.
    files: Vec<Option<ShardRef>>,
    last_version: u64,
    agents_dirty: bool,
    recovery: Recovery,
}
