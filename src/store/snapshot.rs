//! Snapshots of a durable store: the shard files whose sessions changed, the agents file and
//! the manifest, written outside every lock; and flushing and closing.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::entry::Entry;
use super::{Inner, SessionStore};
use crate::model::{AgentRecord, Msg};
use crate::persist::{
    agents_file_name, checksum, encode_agents, encode_shard, encoder_fingerprint, io_error,
    remove_replaced_files, shard_file_name, sync_dir, write_atomic, write_renamed, Manifest,
    ShardRef, SnapshotReport, StoredRef, MANIFEST,
};
use crate::StoreError;

impl SessionStore {
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

    /// Writes and fsyncs whatever the journal holds (useful under [`FsyncPolicy::Every`](crate::FsyncPolicy::Every) or
    /// [`FsyncPolicy::Never`](crate::FsyncPolicy::Never)). A no-op for an in-memory store.
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
                    xxh3: None,
                });
                continue;
            }
            let bytes = encode_shard(entries.iter().map(|(e, history)| StoredRef {
                version: e.version,
                json: &e.json,
                messages: history,
            }));
            let name = shard_file_name(s, journal_no);
            write_renamed(&durable.dir, &name, &bytes)?;
            report.sessions_written += entries.len();
            report.bytes_written += bytes.len() as u64;
            refs.push(ShardRef {
                file: Some(name),
                sessions: entries.len(),
                xxh3: Some(checksum(&bytes)),
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
        sync_dir(&durable.dir).map_err(io_error(&durable.dir))?;
        let records = encoder_fingerprint(self.timestamp_format);
        let manifest = Manifest::new(journal_no, last_version, refs, agents_file, records);
        let bytes = manifest.encode();
        write_atomic(&durable.dir, MANIFEST, &bytes)?;
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
        write_renamed(dir, &name, &bytes)?;
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
