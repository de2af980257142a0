//! A durable store: opening a directory, snapshots, flushing, and single-file export/import.

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::entry::Entry;
use super::{Inner, SessionStore, SessionStoreBuilder};
use crate::model::{AgentRecord, Msg, SessionRecord};
use crate::persist::{
    self, agents_file_name, corrupt, corrupt_at, decode_agents, decode_shard, encode_agents,
    encode_shard, is_shard_file_name, parse_journal_name, read_journal, shard_file_name, shard_of,
    write_atomic, write_renamed, Durable, Journal, Manifest, Op, Recovery, Saved, ShardRef,
    SnapshotReport, StoredRef, TornTail, MANIFEST,
};
use crate::{FsyncPolicy, ListSessionsResponse, StoreError};

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl SessionStore {
    /// Opens the durable store in `dir` (created if needed) with the default settings: fsync
    /// on every write ([`FsyncPolicy::Always`]), a snapshot every minute if anything changed.
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
        let lock = persist::lock_dir(dir)?;
        let store = Self::from_builder(b);
        let shards = store.inner.shards;
        let mut load = Load {
            dirty: vec![false; shards],
            files: vec![None; shards],
            last_version: 0,
            agents_dirty: false,
            recovery: Recovery {
                temp_files_removed: persist::remove_temp_files(dir).map_err(io_err(dir))?,
                ..Recovery::default()
            },
        };
        let manifest_path = dir.join(MANIFEST);
        let manifest = match fs::read(&manifest_path) {
            Ok(bytes) => Some(Manifest::decode(&manifest_path, &bytes)?),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&manifest_path)(e)),
        };
        if let Some(m) = &manifest {
            store.load_snapshot(dir, m, &mut load)?;
        }
        let first_journal = manifest.as_ref().map_or(0, |m| m.journal);
        let journals = journal_files(dir, first_journal)?;
        for (k, (_, path)) in journals.iter().enumerate() {
            let contents = read_journal(path, k + 1 == journals.len())?;
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
        let journal_no = journals.last().map_or(first_journal, |(n, _)| *n);
        let journal = Journal::open(dir, journal_no, b.fsync)?;

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

    /// Loads the shard and agents files `manifest` names.
    fn load_snapshot(&self, dir: &Path, m: &Manifest, load: &mut Load) -> Result<(), StoreError> {
        load.last_version = m.last_version;
        let same_layout = m.shards.len() == load.files.len();
        for (i, shard) in m.shards.iter().enumerate() {
            if same_layout {
                load.files[i] = Some(shard.clone());
            }
            let Some(file) = &shard.file else { continue };
            let path = dir.join(file);
            let bytes = fs::read(&path).map_err(io_err(&path))?;
            for stored in decode_shard(&path, &bytes)? {
                load.last_version = load.last_version.max(stored.version);
                let (user, agent, id) = (
                    stored.record.user_id.clone(),
                    stored.record.agent_id.clone(),
                    stored.record.id.clone(),
                );
                self.load_put(stored.version, stored.record)
                    .map_err(|e| corrupt_at(&path, 0, 0, e.to_string()))?;
                for (i, m) in stored.messages.into_iter().enumerate() {
                    self.load_msg(&user, &agent, &id, i, m);
                }
                load.recovery.snapshot_sessions += 1;
            }
        }
        if !same_layout {
            load.dirty.fill(true);
        }
        if let Some(file) = &m.agents {
            let path = dir.join(file);
            let bytes = fs::read(&path).map_err(io_err(&path))?;
            for agent in decode_agents(&path, &bytes)? {
                self.load_agent_put(agent);
            }
        }
        Ok(())
    }

    /// Applies one journal line of `path`.
    fn replay(&self, op: Op, path: &Path, load: &mut Load) -> Result<(), StoreError> {
        let shards = self.inner.shards;
        match op {
            Op::Put { version, record } => {
                load.last_version = load.last_version.max(version);
                load.dirty[shard_of(&record.user_id, &record.agent_id, shards)] = true;
                self.load_put(version, *record)
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

    /// Takes a snapshot now: rewrites the shard files whose sessions changed since the last
    /// snapshot, replaces the manifest atomically, then removes the journal it covers and the
    /// files it replaced. Writers are not blocked while it is written: each (user, agent) is
    /// read under a brief lock, and the files are written outside every lock.
    ///
    /// Each (user, agent) in the snapshot is a state it really had; together with the
    /// journal kept beside it, the snapshot restores exactly the store's state.
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = SessionStore::builder().snapshot_shards(4).open(dir.path())?;
    /// store.create(NewSession::new("u", "a"))?;
    /// let first = store.snapshot()?;
    /// assert_eq!(first.shards_written, 4);
    /// store.create(NewSession::new("u", "a"))?;
    /// let second = store.snapshot()?;
    /// assert_eq!((second.shards_written, second.shards_unchanged), (1, 3));
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn snapshot(&self) -> Result<SnapshotReport, StoreError> {
        self.inner.snapshot()
    }

    /// Whether a durable store has changes that no snapshot holds yet (they are in the
    /// journal). Always `false` for an in-memory store.
    pub fn has_unsaved_changes(&self) -> bool {
        self.inner.has_unsaved_changes()
    }

    /// Writes and fsyncs whatever the journal holds (useful under [`FsyncPolicy::Every`] or
    /// [`FsyncPolicy::Never`]). A no-op for an in-memory store.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    /// Takes a last snapshot if anything changed, and flushes. Dropping a durable store
    /// flushes too, but cannot report an error; `close` can.
    pub fn close(self) -> Result<(), StoreError> {
        self.stop_maintenance();
        if self.has_unsaved_changes() {
            self.snapshot()?;
        }
        self.flush()
    }

    /// Writes every session into one JSON file shaped exactly like the list answer,
    /// `{"sessions":[...],"total":n}`, atomically; returns how many sessions it holds. Sessions
    /// are grouped by user and agent (in byte order), oldest first.
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = dir.path().join("export.json");
    /// let store = SessionStore::new();
    /// store.create(NewSession::new("u", "a"))?;
    /// assert_eq!(store.export_json(&file)?, 1);
    /// let copy = SessionStore::new();
    /// assert_eq!(copy.import_json(&file)?, 1);
    /// assert_eq!(copy.len(), 1);
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn export_json(&self, path: impl AsRef<Path>) -> Result<usize, StoreError> {
        let path = path.as_ref();
        let mut scopes: Vec<(String, String, Arc<super::Partition>)> = Vec::new();
        for agents in &self.inner.users {
            for (agent, part) in agents.iter() {
                scopes.push((
                    agents.key().to_string(),
                    agent.to_string(),
                    Arc::clone(part),
                ));
            }
        }
        scopes.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let entries: Vec<Arc<Entry>> = scopes
            .iter()
            .flat_map(|(_, _, p)| p.data.read().entries().cloned().collect::<Vec<_>>())
            .collect();
        let mut out =
            Vec::with_capacity(entries.iter().map(|e| e.json.len() + 2).sum::<usize>() + 64);
        out.extend_from_slice(b"{\"sessions\":[");
        for (i, e) in entries.iter().enumerate() {
            out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
            out.extend_from_slice(&e.json);
        }
        out.extend_from_slice(b"\n],\"total\":");
        out.extend_from_slice(entries.len().to_string().as_bytes());
        out.extend_from_slice(b"}\n");
        let (dir, name) = split_path(path)?;
        write_atomic(&dir, &name, &out)
            .map_err(|(path, source)| StoreError::Io { path, source })?;
        Ok(entries.len())
    }

    /// Inserts every session of a file shaped like the list answer,
    /// `{"sessions":[...],"total":n}` (an export, or an answer captured from AgentScope);
    /// returns how many. All or nothing: a damaged file, a bad record or an id the store (or
    /// the file) already has fails the import and inserts nothing.
    pub fn import_json(&self, path: impl AsRef<Path>) -> Result<usize, StoreError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(io_err(path))?;
        let answer: ListSessionsResponse =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(path, &e))?;
        let records: Vec<SessionRecord> = answer
            .sessions
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect();
        self.insert_all(records)
    }

    /// Inserts every record or none.
    pub(crate) fn insert_all(&self, records: Vec<SessionRecord>) -> Result<usize, StoreError> {
        let mut seen = HashSet::new();
        for r in &records {
            self.check_ids(&r.user_id, &r.agent_id, &r.id)?;
            let key = (r.user_id.as_str(), r.agent_id.as_str(), r.id.as_str());
            if !seen.insert(key) || self.get(key.0, key.1, key.2).is_some() {
                return Err(StoreError::DuplicateId {
                    user_id: r.user_id.clone(),
                    agent_id: r.agent_id.clone(),
                    id: r.id.clone(),
                });
            }
        }
        let mut done: Vec<(String, String, String)> = Vec::with_capacity(records.len());
        for r in records {
            let key = (r.user_id.clone(), r.agent_id.clone(), r.id.clone());
            if let Err(e) = self.insert(r) {
                for (u, a, id) in &done {
                    let _ = self.delete(u, a, id);
                }
                return Err(e);
            }
            done.push(key);
        }
        Ok(done.len())
    }

    /// Puts a loaded session in place, replacing any with its id, without journaling.
    fn load_put(&self, version: u64, mut record: SessionRecord) -> Result<(), StoreError> {
        self.check_ids(&record.user_id, &record.agent_id, &record.id)?;
        record.created_at = crate::model::truncate_micros(record.created_at);
        record.updated_at = crate::model::truncate_micros(record.updated_at);
        let entry = Arc::new(Entry::encode(record, version, usize::MAX)?);
        let part = self.partition_or_create(&entry.record.user_id, &entry.record.agent_id);
        let mut data = part.data.write();
        if data.remove(entry.id()).is_none() {
            self.inner.len.fetch_add(1, Ordering::Relaxed);
        }
        data.insert(entry);
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

    /// Starts the thread that fsyncs under [`FsyncPolicy::Every`] and autosaves. It holds only
    /// a weak reference, and ends when the store is dropped or closed.
    fn spawn_maintenance(&self, b: &SessionStoreBuilder, dir: &Path) -> Result<(), StoreError> {
        let fsync_every = match b.fsync {
            FsyncPolicy::Every(d) => Some(d),
            _ => None,
        };
        let autosave = b.autosave;
        let Some(tick) = [fsync_every, autosave].into_iter().flatten().min() else {
            return Ok(());
        };
        let tick = tick.max(Duration::from_millis(1));
        let (stop, stopped) = mpsc::channel::<()>();
        let weak = Arc::downgrade(&self.inner);
        let thread = std::thread::Builder::new()
            .name("agent-sessions-maintenance".into())
            .spawn(move || {
                let (mut last_sync, mut last_save) = (Instant::now(), Instant::now());
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    let Some(inner) = weak.upgrade() else { return };
                    if fsync_every.is_some_and(|d| last_sync.elapsed() >= d) {
                        // A failure poisons the journal; writers see it.
                        let _ = inner.flush();
                        last_sync = Instant::now();
                    }
                    if autosave.is_some_and(|d| last_save.elapsed() >= d) {
                        if inner.has_unsaved_changes() {
                            // On failure the journal still holds every change.
                            let _ = inner.snapshot();
                        }
                        last_save = Instant::now();
                    }
                }
            })
            .map_err(io_err(dir))?;
        *self.inner.maintenance.lock() = Some((stop, thread));
        Ok(())
    }

    /// Stops the background thread and waits for what it is doing (a snapshot) to end.
    pub(super) fn stop_maintenance(&self) {
        let running = self.inner.maintenance.lock().take();
        if let Some((stop, thread)) = running {
            drop(stop);
            // A panic in the thread has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Inner {
    pub(super) fn snapshot(&self) -> Result<SnapshotReport, StoreError> {
        let durable = self.durable.get().ok_or(StoreError::NotDurable)?;
        durable.journal.check_healthy()?;
        let mut saved = durable.saved.lock(); // one snapshot at a time
        let journal_no = durable.journal.rotate()?;
        let last_version = self.last_version.load(Ordering::Relaxed);
        let shards = self.shards;
        // Read after the rotation: a change not counted here is in the new journal.
        let counts: Vec<u64> = durable
            .changes
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let keep: Vec<Option<ShardRef>> = (0..shards)
            .map(|s| match &saved.files[s] {
                Some(file) if counts[s] == saved.changes[s] => Some(file.clone()),
                _ => None,
            })
            .collect();
        let mut partitions = vec![Vec::new(); shards];
        for agents in &self.users {
            for part in agents.values() {
                if keep[part.shard].is_none() {
                    partitions[part.shard].push(Arc::clone(part));
                }
            }
        }

        let mut report = SnapshotReport::default();
        let mut refs = Vec::with_capacity(shards);
        for (s, kept) in keep.into_iter().enumerate() {
            if let Some(file) = kept {
                report.shards_unchanged += 1;
                refs.push(file);
                continue;
            }
            let entries: Vec<(Arc<Entry>, Vec<Arc<Msg>>)> = partitions[s]
                .iter()
                .flat_map(|p| {
                    let data = p.data.read();
                    data.entries()
                        .map(|e| {
                            let history = data.messages.get(e.id()).cloned().unwrap_or_default();
                            (Arc::clone(e), history)
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            report.shards_written += 1;
            if entries.is_empty() {
                refs.push(ShardRef {
                    file: None,
                    sessions: 0,
                });
                continue;
            }
            let bytes = encode_shard(entries.iter().map(|(e, history)| StoredRef {
                version: e.version,
                json: &e.json,
                messages: history,
            }));
            let name = shard_file_name(s, journal_no);
            write_renamed(&durable.dir, &name, &bytes)
                .map_err(|(path, source)| StoreError::Io { path, source })?;
            report.sessions_written += entries.len();
            report.bytes_written += bytes.len() as u64;
            refs.push(ShardRef {
                file: Some(name),
                sessions: entries.len(),
            });
        }
        let agent_count = durable.agent_changes.load(Ordering::Relaxed);
        let agents_file = if saved.agents_current && agent_count == saved.agent_changes {
            saved.agents.clone()
        } else {
            self.write_agents_file(&durable.dir, journal_no, &mut report)?
        };
        // One directory fsync makes every file's rename durable, before the manifest that
        // names them.
        persist::sync_dir(&durable.dir).map_err(io_err(&durable.dir))?;
        let manifest = Manifest::new(journal_no, last_version, refs, agents_file);
        let bytes = manifest.encode();
        write_atomic(&durable.dir, MANIFEST, &bytes)
            .map_err(|(path, source)| StoreError::Io { path, source })?;
        report.bytes_written += bytes.len() as u64;
        saved.changes = counts;
        saved.files = manifest.shards.iter().cloned().map(Some).collect();
        saved.agent_changes = agent_count;
        saved.agents_current = true;
        saved.agents.clone_from(&manifest.agents);
        remove_replaced_files(&durable.dir, journal_no, &manifest);
        Ok(report)
    }

    /// Writes the registered agents' file of generation `generation`; `None` when there is
    /// no agent.
    fn write_agents_file(
        &self,
        dir: &Path,
        generation: u64,
        report: &mut SnapshotReport,
    ) -> Result<Option<String>, StoreError> {
        let agents: Vec<Arc<AgentRecord>> = self
            .agents
            .iter()
            .flat_map(|a| a.values().cloned().collect::<Vec<_>>())
            .collect();
        if agents.is_empty() {
            return Ok(None);
        }
        let name = agents_file_name(generation);
        let bytes = encode_agents(&agents);
        write_renamed(dir, &name, &bytes)
            .map_err(|(path, source)| StoreError::Io { path, source })?;
        report.bytes_written += bytes.len() as u64;
        Ok(Some(name))
    }

    pub(super) fn has_unsaved_changes(&self) -> bool {
        self.durable.get().is_some_and(|d| {
            let saved = d.saved.lock();
            d.agent_changes.load(Ordering::Relaxed) != saved.agent_changes
                || d.changes
                    .iter()
                    .zip(&saved.changes)
                    .any(|(now, then)| now.load(Ordering::Relaxed) != *then)
        })
    }

    pub(super) fn flush(&self) -> Result<(), StoreError> {
        match self.durable.get() {
            Some(d) => d.journal.sync(),
            None => Ok(()),
        }
    }
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

/// The journal files numbered `first` or later, in order.
fn journal_files(dir: &Path, first: u64) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if let Some(n) = name.to_str().and_then(parse_journal_name) {
            if n >= first {
                found.push((n, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Cuts a torn line off the end of a journal.
fn cut_file(path: &Path, len: usize) -> Result<(), StoreError> {
    let file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    file.set_len(len as u64).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Best effort: removes journals older than `journal` and shard files the manifest does not
/// name. What is left is ignored at open and removed by the next snapshot.
fn remove_replaced_files(dir: &Path, journal: u64, manifest: &Manifest) {
    let current: HashSet<&str> = manifest
        .shards
        .iter()
        .filter_map(|s| s.file.as_deref())
        .chain(manifest.agents.as_deref())
        .collect();
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let old_journal = parse_journal_name(name).is_some_and(|n| n < journal);
        let old_shard = is_shard_file_name(&path) && !current.contains(name);
        if old_journal || old_shard {
            let _ = fs::remove_file(&path);
        }
    }
    let _ = persist::sync_dir(dir);
}

fn split_path(path: &Path) -> Result<(PathBuf, String), StoreError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(ErrorKind::InvalidInput, "not a file name"),
        })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_owned()))
}
