//! The store: a cheap-to-clone handle over per-(user, agent) partitions.

mod agents;
mod as_backend;
mod builder;
mod deferred;
mod entry;
mod export;
mod index;
mod maintenance;
mod messages;
mod open;
mod partition;
mod snapshot;
mod splice;
mod state_save;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use crate::backend::{check_identity, list_body, not_found};
use crate::model::{now, SessionRecord};
use crate::persist::{del_line, put_line, shard_of, Durable};
use crate::{ListQuery, ListSessionsResponse, NewSession, StoreError, Versioned};
use entry::Entry;
use maintenance::Handles;
use partition::{Partition, PartitionData};

pub use builder::SessionStoreBuilder;

/// An embedded, concurrent, in-memory store of agent sessions.
///
/// A `SessionStore` is a handle: cloning it is cheap and every clone sees the same sessions. It
/// is `Send + Sync`; no external lock is needed. Methods return owned values (`Arc`s), never
/// guards, so a caller cannot deadlock the store by holding a result.
///
/// Sessions are kept per (user, agent): a call that names one user and agent never looks at
/// another's sessions, and its cost does not grow with what others hold. Session ids are unique
/// within a (user, agent).
///
/// ```
/// use agent_sessions::{ListQuery, NewSession, Order, SessionStore};
/// let store = SessionStore::new();
/// let rec = store.create(NewSession::new("user-1", "agent-1").workspace_id("ws").name("First"))?;
/// let got = store.get("user-1", "agent-1", &rec.id).unwrap();
/// assert_eq!(got.config.name, "First");
///
/// let rec = store.update("user-1", "agent-1", &rec.id, |r| r.config.name = "x".into())?;
/// assert_eq!(rec.config.name, "x");
///
/// let page = store.list(&ListQuery::new("user-1", "agent-1").limit(20).order(Order::UpdatedDesc));
/// assert_eq!(page.total, 1);
/// let body = store.list_json(&ListQuery::new("user-1", "agent-1"));
/// assert_eq!(body, serde_json::to_vec(&store.list(&ListQuery::new("user-1", "agent-1"))).unwrap());
///
/// store.delete("user-1", "agent-1", &rec.id)?;
/// assert!(store.is_empty());
/// # Ok::<(), agent_sessions::StoreError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SessionStore {
    /// Shared by the handles only (the background thread holds none). Declared first, so it
    /// is dropped first: the last handle stops the background thread, waiting for it, before
    /// it lets go of `inner`, so the store is closed (its journal flushed, its directory
    /// unlocked) when that drop returns.
    handles: Arc<Handles>,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// user -> agent -> partition. A guard on this map is never held while calling it again,
    /// and never taken while a partition lock is held.
    users: DashMap<Box<str>, AgentPartitions, Hasher>,
    /// user -> registered agents, in registration order. Same guard rules as `users`.
    agents: DashMap<Box<str>, indexmap::IndexMap<Box<str>, Arc<crate::model::AgentRecord>>>,
    len: AtomicUsize,
    /// The last version handed out.
    last_version: AtomicU64,
    max_id_bytes: usize,
    max_record_bytes: usize,
    /// How records' timestamps are written.
    timestamp_format: crate::model::TimestampFormat,
    /// How many snapshot shards partitions are spread over.
    shards: usize,
    /// Set once, for a store opened on a directory.
    durable: std::sync::OnceLock<Durable>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(durable) = self.durable.get() {
            // Nobody can be told of a failure here; `close` reports it.
            let _ = durable.journal.sync();
        }
    }
}

/// The hasher of the store's maps: keys are short ids, hashed on every call, and a
/// per-map random seed keeps crafted ids from colliding on purpose.
type Hasher = foldhash::fast::RandomState;

/// One user's partitions, by agent.
type AgentPartitions = HashMap<Box<str>, Arc<Partition>, Hasher>;

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SessionStore>();
};

impl Default for SessionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionStore {
    /// An empty store with the default limits (see [`SessionStoreBuilder`]).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to set the store's limits.
    ///
    /// ```
    /// let store = agent_sessions::SessionStore::builder().max_id_bytes(64).build();
    /// assert!(store.is_empty());
    /// ```
    pub fn builder() -> SessionStoreBuilder {
        SessionStoreBuilder::default()
    }

    fn from_builder(b: &SessionStoreBuilder) -> Self {
        Self {
            handles: Arc::default(),
            inner: Arc::new(Inner {
                users: DashMap::with_hasher(Hasher::default()),
                agents: DashMap::new(),
                len: AtomicUsize::new(0),
                last_version: AtomicU64::new(0),
                max_id_bytes: b.max_id_bytes,
                max_record_bytes: b.max_record_bytes,
                timestamp_format: b.timestamp_format,
                shards: b.snapshot_shards.max(1),
                durable: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Creates a session with AgentScope's defaults for whatever `new` leaves unset.
    ///
    /// Fails with [`StoreError::DuplicateId`] if `new` names an id the user and agent already
    /// have, and with the id and size errors of [`SessionStore::insert`].
    pub fn create(&self, new: NewSession) -> Result<Arc<SessionRecord>, StoreError> {
        self.insert(new.into_record(now()))
    }

    /// Imports a full record as it is (ids, timestamps, state).
    ///
    /// Timestamps are kept to the microsecond, as everywhere in the store.
    ///
    /// ```
    /// use agent_sessions::{SessionRecord, SessionStore, StoreError};
    /// let store = SessionStore::new();
    /// let rec: SessionRecord = serde_json::from_str(
    ///     r#"{"id":"s1","user_id":"u","agent_id":"a","config":{"workspace_id":"w"}}"#,
    /// ).unwrap();
    /// store.insert(rec.clone())?;
    /// assert!(matches!(store.insert(rec), Err(StoreError::DuplicateId { .. })));
    /// # Ok::<(), StoreError>(())
    /// ```
    pub fn insert(&self, record: SessionRecord) -> Result<Arc<SessionRecord>, StoreError> {
        self.insert_versioned(record).map(|v| v.record)
    }

    /// [`SessionStore::insert`], returning the version too.
    pub(crate) fn insert_versioned(
        &self,
        mut record: SessionRecord,
    ) -> Result<Versioned, StoreError> {
        self.check_writable()?;
        self.check_ids(&record.user_id, &record.agent_id, &record.id)?;
        record.created_at = crate::model::truncate_micros(record.created_at);
        record.updated_at = crate::model::truncate_micros(record.updated_at);
        let entry = Entry::encode(
            record,
            self.next_version(),
            self.inner.max_record_bytes,
            self.inner.timestamp_format,
        )?;
        let entry = Arc::new(entry);
        let (user, agent) = (&entry.record.user_id, &entry.record.agent_id);
        let line = self.journal_line(|| put_line(entry.version, &entry.json));
        loop {
            let part = self.partition_or_create(user, agent);
            let mut data = part.data.write();
            if data.retired {
                continue; // deleted under us: look it up again
            }
            if data.by_id.contains_key(entry.id()) {
                return Err(StoreError::DuplicateId {
                    user_id: user.clone(),
                    agent_id: agent.clone(),
                    id: entry.record.id.clone(),
                });
            }
            data.insert(Arc::clone(&entry));
            self.inner.len.fetch_add(1, Ordering::Relaxed);
            let seq = self.log(&part, line);
            drop(data);
            self.commit(seq)?;
            return Ok(entry.versioned());
        }
    }

    /// The session `id` of `user_id` with `agent_id`, if there is one.
    pub fn get(&self, user_id: &str, agent_id: &str, id: &str) -> Option<Arc<SessionRecord>> {
        self.entry(user_id, agent_id, id)
            .map(|e| Arc::clone(&e.record))
    }

    /// The session and its version, for a later [`SessionStore::update_if_version`].
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// let rec = store.create(NewSession::new("u", "a"))?;
    /// let v1 = store.get_versioned("u", "a", &rec.id).unwrap().version;
    /// store.update("u", "a", &rec.id, |r| r.config.name = "x".into())?;
    /// assert!(store.get_versioned("u", "a", &rec.id).unwrap().version > v1);
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn get_versioned(&self, user_id: &str, agent_id: &str, id: &str) -> Option<Versioned> {
        self.entry(user_id, agent_id, id).map(|e| e.versioned())
    }

    /// The session `id` of `user_id`, looked up under `agent_id` first, then under the user's
    /// other agents (in byte order of their ids), with its version; `None` if the user has no
    /// session with this id.
    ///
    /// AgentScope keys sessions by user and id, so its HTTP API finds a session whatever agent
    /// the request names; the server uses this to answer the same.
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// let rec = store.create(NewSession::new("u", "a"))?;
    /// let found = store.find_session("u", "other-agent", &rec.id).unwrap();
    /// assert_eq!(found.record.agent_id, "a");
    /// assert!(store.find_session("v", "a", &rec.id).is_none()); // another user's: never
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn find_session(&self, user_id: &str, agent_id: &str, id: &str) -> Option<Versioned> {
        if let Some(v) = self.get_versioned(user_id, agent_id, id) {
            return Some(v);
        }
        let mut parts: Vec<(Box<str>, Arc<Partition>)> = self
            .inner
            .users
            .get(user_id)?
            .iter()
            .filter(|(agent, _)| &***agent != agent_id)
            .map(|(agent, part)| (agent.clone(), Arc::clone(part)))
            .collect(); // the map guard is dropped here, before any partition lock
        parts.sort_by(|a, b| a.0.cmp(&b.0));
        parts.into_iter().find_map(|(_, part)| {
            let data = part.data.read();
            data.by_id.get(id).map(|e| e.versioned())
        })
    }

    /// The session's compact JSON, exactly `serde_json::to_vec(&*record)`, from the cache.
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// let rec = store.create(NewSession::new("u", "a"))?;
    /// assert_eq!(store.get_json("u", "a", &rec.id).unwrap(), serde_json::to_vec(&*rec).unwrap());
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn get_json(&self, user_id: &str, agent_id: &str, id: &str) -> Option<Vec<u8>> {
        self.entry(user_id, agent_id, id).map(|e| e.json.to_vec())
    }

    /// Changes a session atomically: `f` gets a private copy of the record, and the copy
    /// replaces the session with `updated_at` set to now and the version bumped.
    ///
    /// `f` runs without any lock held. If another writer changed the session meanwhile, `f`
    /// runs again on the new version, so it may run more than once: make it a function of the
    /// record it is given. If `f` panics, the panic propagates and the store is unchanged.
    /// If `f` changes `id`, `user_id`, `agent_id` or `created_at`, the update fails with
    /// [`StoreError::IdentityChanged`] and the store is unchanged.
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// let rec = store.create(NewSession::new("u", "a"))?;
    /// let rec = store.update("u", "a", &rec.id, |r| r.state.cur_iter += 1)?;
    /// assert_eq!(rec.state.cur_iter, 1);
    /// assert!(store.update("u", "a", &rec.id, |r| r.user_id = "v".into()).is_err());
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn update<F>(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        f: F,
    ) -> Result<Arc<SessionRecord>, StoreError>
    where
        F: FnMut(&mut SessionRecord),
    {
        self.update_inner(user_id, agent_id, id, None, f)
            .map(|v| v.record)
    }

    /// Like [`SessionStore::update`], and returns the new version with the record (for an
    /// `ETag`, or a later [`SessionStore::update_if_version`]).
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// let rec = store.create(NewSession::new("u", "a"))?;
    /// let v = store.update_versioned("u", "a", &rec.id, |r| r.config.name = "x".into())?;
    /// assert_eq!(v.version, store.get_versioned("u", "a", &rec.id).unwrap().version);
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn update_versioned<F>(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        f: F,
    ) -> Result<Versioned, StoreError>
    where
        F: FnMut(&mut SessionRecord),
    {
        self.update_inner(user_id, agent_id, id, None, f)
    }

    /// Like [`SessionStore::update`], but only if the session is still at `expected_version`;
    /// else fails with [`StoreError::VersionConflict`] and changes nothing. This is how two
    /// writers avoid losing each other's changes across a read-think-write cycle.
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore, StoreError};
    /// let store = SessionStore::new();
    /// let rec = store.create(NewSession::new("u", "a"))?;
    /// let v = store.get_versioned("u", "a", &rec.id).unwrap();
    /// let v2 = store.update_if_version("u", "a", &rec.id, v.version, |r| r.config.name = "A".into())?;
    /// assert!(v2.version > v.version);
    /// let stale = store.update_if_version("u", "a", &rec.id, v.version, |r| r.config.name = "B".into());
    /// assert!(matches!(stale, Err(StoreError::VersionConflict { .. })));
    /// assert_eq!(store.get("u", "a", &rec.id).unwrap().config.name, "A");
    /// # Ok::<(), StoreError>(())
    /// ```
    pub fn update_if_version<F>(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        expected_version: u64,
        f: F,
    ) -> Result<Versioned, StoreError>
    where
        F: FnMut(&mut SessionRecord),
    {
        self.update_inner(user_id, agent_id, id, Some(expected_version), f)
    }

    fn update_inner<F>(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        expected_version: Option<u64>,
        mut f: F,
    ) -> Result<Versioned, StoreError>
    where
        F: FnMut(&mut SessionRecord),
    {
        let make = |current: &Arc<Entry>| {
            let mut copy = SessionRecord::clone(&current.record);
            f(&mut copy);
            check_identity(&current.record, &copy)?;
            copy.updated_at = current.next_updated_at();
            self.encode_entry(copy, self.next_version())
        };
        self.replace_with(user_id, agent_id, id, expected_version, make, put_of)
    }

    /// The entry of a new version of a session, encoded with the store's limits and format.
    fn encode_entry(&self, record: SessionRecord, version: u64) -> Result<Entry, StoreError> {
        let (max, format) = (self.inner.max_record_bytes, self.inner.timestamp_format);
        Entry::encode(record, version, max, format)
    }

    /// Replaces session `id` by the entry `make` makes from the current one (outside any
    /// lock), journaled as the line `line` makes of the current and the new entry (for a
    /// durable store). If another writer replaced it meanwhile, a compare-and-swap
    /// (`expected_version`) fails and a plain replacement calls `make` again on the newer
    /// entry.
    fn replace_with(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        expected_version: Option<u64>,
        mut make: impl FnMut(&Arc<Entry>) -> Result<Entry, StoreError>,
        line: impl Fn(&Entry, &Entry) -> Vec<u8>,
    ) -> Result<Versioned, StoreError> {
        self.check_writable()?;
        let not_found = || not_found(user_id, agent_id, id);
        let part = self.partition(user_id, agent_id).ok_or_else(not_found)?;
        loop {
            let current = part
                .data
                .read()
                .by_id
                .get(id)
                .cloned()
                .ok_or_else(not_found)?;
            check_version(&current, expected_version)?;
            let entry = Arc::new(make(&current)?);
            let line = self.journal_line(|| line(&current, &entry));
            let mut data = part.data.write();
            match data.by_id.get(id) {
                Some(now_there) if Arc::ptr_eq(now_there, &current) => {
                    data.replace(Arc::clone(&entry));
                    let seq = self.log(&part, line);
                    drop(data);
                    self.commit(seq)?;
                    return Ok(entry.versioned());
                }
                // Changed meanwhile: a compare-and-swap fails, a plain update runs f again.
                Some(newer) => check_version(newer, expected_version)?,
                None => return Err(not_found()),
            }
        }
    }

    /// Removes a session and returns it; fails with [`StoreError::NotFound`] if there is none.
    pub fn delete(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Arc<SessionRecord>, StoreError> {
        self.check_writable()?;
        let not_found = || not_found(user_id, agent_id, id);
        let part = self.partition(user_id, agent_id).ok_or_else(not_found)?;
        let (removed, now_empty, seq) = {
            let mut data = part.data.write();
            let removed = data.remove(id).ok_or_else(not_found)?;
            let seq = self.log(
                &part,
                self.journal_line(|| del_line(user_id, agent_id, [id])),
            );
            (removed, data.by_id.is_empty(), seq)
        };
        self.inner.len.fetch_sub(1, Ordering::Relaxed);
        if now_empty {
            self.drop_partition_if_empty(user_id, agent_id, &part);
        }
        self.commit(seq)?;
        Ok(Arc::clone(&removed.record))
    }

    /// Removes every session of `user_id` with `agent_id` (and their message histories);
    /// returns how many there were. The agent's registration, if any, stays (see
    /// [`SessionStore::unregister_agent`]).
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// store.create(NewSession::new("u", "a"))?;
    /// store.create(NewSession::new("u", "b"))?;
    /// assert_eq!(store.delete_agent("u", "a")?, 1);
    /// assert_eq!(store.len(), 1);
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn delete_agent(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError> {
        self.check_writable()?;
        let (removed, seq) = {
            let Some(mut agents) = self.inner.users.get_mut(user_id) else {
                return Ok(0);
            };
            let Some(part) = agents.remove(agent_id) else {
                return Ok(0);
            };
            // Retired under the map guard: a racing create waits for the guard, finds the
            // partition gone and makes a new one, journaled after this deletion.
            self.retire_partitions(user_id, [(agent_id, &part)])
        };
        self.inner
            .users
            .remove_if(user_id, |_, agents| agents.is_empty());
        self.commit(seq)?;
        Ok(removed)
    }

    /// Removes every session of `user_id`, with every agent, and unregisters the user's
    /// agents (erasure of a user's data); returns how many sessions there were.
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// store.create(NewSession::new("u", "a"))?;
    /// store.create(NewSession::new("u", "b"))?;
    /// store.create(NewSession::new("v", "a"))?;
    /// assert_eq!(store.delete_all("u")?, 2);
    /// assert_eq!(store.len(), 1);
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn delete_all(&self, user_id: &str) -> Result<usize, StoreError> {
        self.check_writable()?;
        let (removed, seq) = match self.inner.users.get_mut(user_id) {
            Some(mut agents) => {
                // As in `delete_agent`: retired and journaled before they are unlinked.
                let parts = std::mem::take(&mut *agents);
                self.retire_partitions(user_id, parts.iter().map(|(a, p)| (&**a, p)))
            }
            None => (0, None),
        };
        self.inner
            .users
            .remove_if(user_id, |_, agents| agents.is_empty());
        self.commit(seq)?;
        self.unregister_all(user_id)?;
        Ok(removed)
    }

    /// Retires partitions, journaling what they held; returns how many sessions they held and
    /// the journal line to commit. Called with the user's map guard held (map guard, then
    /// partition lock, is the allowed order), before the partitions are unlinked.
    fn retire_partitions<'a>(
        &self,
        user_id: &str,
        parts: impl IntoIterator<Item = (&'a str, &'a Arc<Partition>)>,
    ) -> (usize, Option<u64>) {
        let mut removed = 0;
        let mut last_seq = None;
        for (agent_id, part) in parts {
            let mut data = part.data.write();
            let gone = data.retire();
            removed += gone.len();
            if !gone.is_empty() {
                let line = self
                    .journal_line(|| del_line(user_id, agent_id, gone.values().map(|e| e.id())));
                last_seq = self.log(part, line);
            }
        }
        self.inner.len.fetch_sub(removed, Ordering::Relaxed);
        (removed, last_seq)
    }

    /// A page of `user_id`'s sessions with `agent_id`, and how many match in all.
    ///
    /// The page and `total` are taken at one instant, under one brief read lock of that user
    /// and agent's partition: `total` is exact for that instant. The page holds `Arc`s to the
    /// stored records; nothing is copied. An unknown user or agent gives an empty page.
    ///
    /// Cost: O(log n + offset + page size), n being this user and agent's session count; a
    /// filter (`source`, `source_schedule_id`, `workspace_id`) adds a scan of those n.
    pub fn list(&self, query: &ListQuery) -> ListSessionsResponse {
        self.read_partition(&query.user_id, &query.agent_id, |data| {
            if let Some(page) = data.cached_first_page(query) {
                let total = data.by_id.len();
                let sessions = page.records.to_vec();
                return ListSessionsResponse { sessions, total };
            }
            let (page, total) = data.select(query);
            // Bring every record into cache with plain loads before the atomic increments: a
            // locked increment waits for its cache line and holds back the loads after it, so
            // cloning cold `Arc`s one by one would pay each miss in turn.
            for slot in &page {
                std::hint::black_box(Arc::strong_count(&slot.record));
            }
            let sessions = page.iter().map(|s| Arc::clone(&s.record)).collect();
            ListSessionsResponse { sessions, total }
        })
        .unwrap_or_default()
    }

    /// The list answer as JSON bytes: the same bytes as
    /// `serde_json::to_vec(&store.list(query))`, made by concatenating each session's cached
    /// encoding (nothing is serialized).
    pub fn list_json(&self, query: &ListQuery) -> Vec<u8> {
        let page = self.read_partition(&query.user_id, &query.agent_id, |data| {
            let total = data.by_id.len();
            if let Some(page) = data.cached_first_page(query) {
                let mut out = Vec::with_capacity(
                    list_body::HEAD.len() + page.json.len() + list_body::TAIL.len() + 21,
                );
                out.extend_from_slice(list_body::HEAD);
                out.extend_from_slice(page.json);
                return (out, total);
            }
            let (page, total) = data.select(query);
            // The page is copied under the read lock (a memcpy of the cached bytes, nothing
            // is serialized), which spares an atomic increment and decrement per session. Its
            // cache lines are loaded first, all at once, as in `list`.
            let mut body = 0;
            for slot in &page {
                body += slot.json.len() + 1;
                std::hint::black_box(touch(&slot.json));
            }
            let mut out =
                Vec::with_capacity(list_body::HEAD.len() + body + list_body::TAIL.len() + 21);
            out.extend_from_slice(list_body::HEAD);
            for (i, slot) in page.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&slot.json);
            }
            (out, total)
        });
        let Some((mut out, total)) = page else {
            return list_body::EMPTY.to_vec();
        };
        list_body::finish(&mut out, total);
        out
    }

    /// How many sessions `user_id` has with `agent_id`.
    pub fn count(&self, user_id: &str, agent_id: &str) -> usize {
        self.read_partition(user_id, agent_id, |data| data.by_id.len())
            .unwrap_or(0)
    }

    /// How many sessions the store holds. Exact when no writer is running; otherwise it may
    /// lag the writers by the few in flight.
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }

    /// What the journal of a durable store has done since it was opened (fsync durations,
    /// group-commit sizes); `None` for an in-memory store.
    ///
    /// ```
    /// let store = agent_sessions::SessionStore::new();
    /// assert!(store.journal_stats().is_none());
    /// ```
    pub fn journal_stats(&self) -> Option<crate::JournalStats> {
        self.inner.durable.get().map(|d| d.journal.stats())
    }

    /// Whether the store holds no session (see [`SessionStore::len`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// For a durable store, the journal line `encode` makes (an encoder of
    /// `persist::journal_format`); `None`, and nothing encoded, for an in-memory one.
    fn journal_line(&self, encode: impl FnOnce() -> Vec<u8>) -> Option<Vec<u8>> {
        self.inner.durable.get().map(|_| encode())
    }

    /// Under the partition's write lock: counts the change for the next snapshot and appends
    /// its line to the journal. Returns the line to commit, for a durable store.
    fn log(&self, part: &Partition, line: Option<Vec<u8>>) -> Option<u64> {
        let durable = self.inner.durable.get()?;
        durable.changes[part.shard].fetch_add(1, Ordering::Relaxed);
        Some(durable.journal.append_line(&line?))
    }

    /// Waits, with no store lock held, until journal line `seq` is durable; inside
    /// [`deferred::collect`], only notes it for the async caller to await.
    fn commit(&self, seq: Option<u64>) -> Result<(), StoreError> {
        match (seq, self.inner.durable.get()) {
            (Some(seq), Some(_)) if deferred::note(self.id(), seq) => Ok(()),
            (Some(seq), Some(durable)) => durable.journal.commit(seq),
            _ => Ok(()),
        }
    }

    /// Refuses writes once the journal has failed.
    fn check_writable(&self) -> Result<(), StoreError> {
        match self.inner.durable.get() {
            Some(durable) => durable.journal.check_healthy(),
            None => Ok(()),
        }
    }

    /// This store's identity while it lives: the address of what its handles share.
    fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    fn next_version(&self) -> u64 {
        self.inner.last_version.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn entry(&self, user_id: &str, agent_id: &str, id: &str) -> Option<Arc<Entry>> {
        self.read_partition(user_id, agent_id, |data| data.by_id.get(id).cloned())?
    }

    /// `read` of (user, agent)'s partition under its read lock, if the partition exists.
    ///
    /// For the read paths: the partition is reached under the user map's guard (the allowed
    /// order, map guard then partition lock) instead of through a clone of its `Arc`, which
    /// spares two locked read-modify-writes of a line every reader of the partition shares.
    /// `read` must not call the store again.
    fn read_partition<R>(
        &self,
        user_id: &str,
        agent_id: &str,
        read: impl FnOnce(&PartitionData) -> R,
    ) -> Option<R> {
        let agents = self.inner.users.get(user_id)?;
        let data = agents.get(agent_id)?.data.read();
        Some(read(&data))
    }

    /// The partition of (user, agent), if it exists. The map guard is dropped on return.
    fn partition(&self, user_id: &str, agent_id: &str) -> Option<Arc<Partition>> {
        self.inner.users.get(user_id)?.get(agent_id).cloned()
    }

    fn partition_or_create(&self, user_id: &str, agent_id: &str) -> Arc<Partition> {
        if let Some(p) = self.partition(user_id, agent_id) {
            return p;
        }
        let shard = shard_of(user_id, agent_id, self.inner.shards);
        let mut agents = self.inner.users.entry(user_id.into()).or_default();
        Arc::clone(
            agents
                .entry(agent_id.into())
                .or_insert_with(|| Arc::new(Partition::new(shard))),
        )
    }

    /// Unlinks `part` from the map if it is still the (user, agent) partition and is empty.
    fn drop_partition_if_empty(&self, user_id: &str, agent_id: &str, part: &Arc<Partition>) {
        {
            let Some(mut agents) = self.inner.users.get_mut(user_id) else {
                return;
            };
            let ours = agents.get(agent_id).is_some_and(|p| Arc::ptr_eq(p, part));
            // Map guard -> partition lock is the allowed order.
            if ours && part.data.write().retire_if_empty() {
                agents.remove(agent_id);
            }
        }
        self.inner
            .users
            .remove_if(user_id, |_, agents| agents.is_empty());
    }

    fn check_ids(&self, user_id: &str, agent_id: &str, id: &str) -> Result<(), StoreError> {
        crate::backend::check_ids(user_id, agent_id, id, self.inner.max_id_bytes)
    }

    fn check_id(&self, field: &'static str, value: &str) -> Result<(), StoreError> {
        crate::backend::check_id(field, value, self.inner.max_id_bytes)
    }
}

/// The journal line of a new version written in full: a `put` of its record.
fn put_of(_current: &Entry, new: &Entry) -> Vec<u8> {
    put_line(new.version, &new.json)
}

fn check_version(entry: &Entry, expected: Option<u64>) -> Result<(), StoreError> {
    match expected {
        Some(v) if v != entry.version => Err(StoreError::VersionConflict {
            id: entry.record.id.clone(),
            expected: v,
            actual: entry.version,
        }),
        _ => Ok(()),
    }
}

/// Reads one byte of every cache line of `bytes`, so that their misses overlap.
fn touch(bytes: &[u8]) -> u8 {
    bytes.iter().step_by(64).fold(0, |acc, &b| acc ^ b)
}
