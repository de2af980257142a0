//! Proves, by model-based property testing, that every `SessionStore` operation behaves like a
//! simple ordered map of (user, agent, id) -> record: results, errors, versions, list pages,
//! totals, cursors and `list_json` all match an oracle over random operation sequences; so do
//! registered agents and message histories. The same sequences run on a durable store, which
//! is reopened (after a snapshot, or from its journal alone) at random points and must then
//! still agree with the oracle in everything.

use std::collections::BTreeMap;
use std::sync::Arc;

use agent_sessions::model::{
    AgentRecord, ContentBlock, Msg, Object, Role, SessionRecord, SessionSource,
};
use agent_sessions::{
    Cursor, FsyncPolicy, ListQuery, ListSessionsResponse, NewSession, Order, SessionStore,
    StoreError,
};
use chrono::{DateTime, SubsecRound, Utc};
use proptest::prelude::*;
use serde_json::Value;

const USERS: [&str; 2] = ["u0", "u1"];
const AGENTS: [&str; 2] = ["a0", "a1"];
const IDS: [&str; 4] = ["s0", "s1", "s2", "s3"];
const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];
const WORKSPACES: [&str; 2] = ["w0", "w1"];
const SCHEDULES: [&str; 2] = ["sch-0", "sch-1"];
/// Message ids: appending the id of the history's last message replaces it.
const MSG_IDS: [&str; 3] = ["m0", "m1", "m2"];
/// Timestamps for inserted records: ties (the third truncates to the second), an offset, a
/// naive one, and one in the future (so an update keeps its `updated_at`).
const TIMES: [&str; 6] = [
    "2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00.000001Z",
    "2024-01-01T00:00:00.0000019Z",
    "2024-06-01T12:00:00.5+02:00",
    "1999-01-01T00:00:00",
    "2099-12-31T23:59:59.999999Z",
];

/// `(source, source_schedule_id)` of source choice `i`.
fn source_of(i: usize) -> (SessionSource, Option<&'static str>) {
    match i {
        0 => (SessionSource::User, None),
        1 => (SessionSource::Schedule, Some(SCHEDULES[0])),
        2 => (SessionSource::Schedule, Some(SCHEDULES[1])),
        _ => (SessionSource::Other("channel".into()), None),
    }
}

fn source_filter(i: usize) -> SessionSource {
    match i {
        0 => SessionSource::User,
        1 => SessionSource::Schedule,
        _ => SessionSource::Other("channel".into()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key(usize, usize, usize);

impl Key {
    fn user(self) -> &'static str {
        USERS[self.0]
    }
    fn agent(self) -> &'static str {
        AGENTS[self.1]
    }
    fn id(self) -> &'static str {
        IDS[self.2]
    }
    fn all() -> impl Iterator<Item = Key> {
        (0..2).flat_map(|u| (0..2).flat_map(move |a| (0..4).map(move |i| Key(u, a, i))))
    }
}

#[derive(Clone, Copy, Debug)]
enum Change {
    Name(usize),
    Workspace(usize),
    /// Tries to change a field that never changes: `user_id`, `agent_id`, `id`, `created_at`.
    Identity(usize),
}

impl Change {
    fn apply(self, r: &mut SessionRecord) {
        match self {
            Change::Name(n) => r.config.name = NAMES[n].into(),
            Change::Workspace(w) => r.config.workspace_id = WORKSPACES[w].into(),
            Change::Identity(0) => r.user_id = "intruder".into(),
            Change::Identity(1) => r.agent_id = "other-agent".into(),
            Change::Identity(2) => r.id = "renamed".into(),
            Change::Identity(_) => r.created_at += chrono::Duration::microseconds(1),
        }
    }

    fn identity_field(self) -> Option<&'static str> {
        match self {
            Change::Identity(0) => Some("user_id"),
            Change::Identity(1) => Some("agent_id"),
            Change::Identity(2) => Some("id"),
            Change::Identity(_) => Some("created_at"),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum VersionPick {
    /// The session's current version.
    Current,
    /// One of the versions seen so far (stale unless it is the current one).
    Seen(usize),
}

#[derive(Clone, Copy, Debug)]
enum CursorPick {
    None,
    /// `Cursor::after` a record (live or deleted), optionally through its text form and with a
    /// different `order` set after it (the cursor's order wins).
    After {
        pick: usize,
        order: Order,
        text: bool,
        reorder: Option<Order>,
    },
    /// `next_page` of the previous list.
    Next,
}

#[derive(Clone, Debug)]
struct ListOp {
    user: usize,
    agent: usize,
    order: Order,
    limit: Option<usize>,
    offset: usize,
    workspace: Option<usize>,
    source: Option<usize>,
    schedule: Option<usize>,
    cursor: CursorPick,
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        key: Key,
        name: usize,
        workspace: usize,
        source: usize,
    },
    InsertJson {
        key: Key,
        fixture: usize,
        name: usize,
        workspace: usize,
        source: usize,
        created: usize,
        updated: usize,
        extra: bool,
    },
    InsertClone {
        pick: usize,
        key: Key,
        created: Option<usize>,
    },
    Get(Key),
    Update(Key, Change),
    UpdateIfVersion(Key, Change, VersionPick),
    Delete(Key),
    DeleteAgent(usize, usize),
    DeleteAll(usize),
    List(ListOp),
    /// `register_agent` of agent `AGENTS[.1]` for user `USERS[.0]`, named `NAMES[.2]`.
    RegisterAgent(usize, usize, usize),
    /// `update_agent`: renames it `NAMES[.2]`.
    UpdateAgent(usize, usize, usize),
    /// `unregister_agent`: the agent and its sessions go.
    UnregisterAgent(usize, usize),
    /// `append_message` of a message with id `MSG_IDS[.1]` and text `NAMES[.2]`.
    AppendMessage(Key, usize, usize),
    /// Drops the durable store and opens its directory again, after a snapshot or not (a
    /// no-op for the in-memory store).
    Reopen {
        snapshot: bool,
    },
}

fn key() -> impl Strategy<Value = Key> {
    (0..2usize, 0..2usize, 0..4usize).prop_map(|(u, a, i)| Key(u, a, i))
}

fn order() -> impl Strategy<Value = Order> {
    (0..4usize).prop_map(|i| Order::ALL[i])
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => (0..3usize).prop_map(Change::Name),
        4 => (0..2usize).prop_map(Change::Workspace),
        1 => (0..4usize).prop_map(Change::Identity),
    ]
}

fn cursor_pick() -> impl Strategy<Value = CursorPick> {
    prop_oneof![
        3 => Just(CursorPick::None),
        2 => (any::<usize>(), order(), any::<bool>(), proptest::option::of(order())).prop_map(
            |(pick, order, text, reorder)| CursorPick::After { pick, order, text, reorder }
        ),
        2 => Just(CursorPick::Next),
    ]
}

fn list_op() -> impl Strategy<Value = ListOp> {
    (
        (0..2usize, 0..2usize, order()),
        proptest::option::of(0..5usize),
        prop_oneof![3 => Just(0usize), 1 => 1..4usize],
        proptest::option::weighted(0.3, 0..2usize),
        proptest::option::weighted(0.3, 0..3usize),
        proptest::option::weighted(0.15, 0..2usize),
        cursor_pick(),
    )
        .prop_map(
            |((user, agent, order), limit, offset, workspace, source, schedule, cursor)| ListOp {
                user,
                agent,
                order,
                limit,
                offset,
                workspace,
                source,
                schedule,
                cursor,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (key(), 0..3usize, 0..2usize, 0..4usize).prop_map(|(key, name, workspace, source)| {
            Op::Create { key, name, workspace, source }
        }),
        3 => (key(), 0..4usize, 0..3usize, 0..2usize, 0..4usize, 0..TIMES.len(), 0..TIMES.len(), any::<bool>())
            .prop_map(|(key, fixture, name, workspace, source, created, updated, extra)| {
                Op::InsertJson { key, fixture, name, workspace, source, created, updated, extra }
            }),
        2 => (any::<usize>(), key(), proptest::option::of(0..TIMES.len()))
            .prop_map(|(pick, key, created)| Op::InsertClone { pick, key, created }),
        2 => key().prop_map(Op::Get),
        4 => (key(), change()).prop_map(|(k, c)| Op::Update(k, c)),
        4 => (key(), change(), prop_oneof![Just(VersionPick::Current), any::<usize>().prop_map(VersionPick::Seen)])
            .prop_map(|(k, c, v)| Op::UpdateIfVersion(k, c, v)),
        3 => key().prop_map(Op::Delete),
        1 => (0..2usize, 0..2usize).prop_map(|(u, a)| Op::DeleteAgent(u, a)),
        1 => (0..2usize).prop_map(Op::DeleteAll),
        8 => list_op().prop_map(Op::List),
        2 => (0..2usize, 0..2usize, 0..3usize).prop_map(|(u, a, n)| Op::RegisterAgent(u, a, n)),
        1 => (0..2usize, 0..2usize, 0..3usize).prop_map(|(u, a, n)| Op::UpdateAgent(u, a, n)),
        1 => (0..2usize, 0..2usize).prop_map(|(u, a)| Op::UnregisterAgent(u, a)),
        5 => (key(), 0..MSG_IDS.len(), 0..NAMES.len()).prop_map(|(k, m, t)| Op::AppendMessage(k, m, t)),
        2 => any::<bool>().prop_map(|snapshot| Op::Reopen { snapshot }),
    ]
}

fn fixtures() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/agentscope-2.0.0/records.json"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.as_array().unwrap().clone()
}

fn truncated_now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The list the model answers: the query's scope, filters, order, cursor, offset and limit.
#[derive(Clone, Debug)]
struct Shadow {
    user: usize,
    agent: usize,
    /// The effective order (the cursor's, when there is one).
    order: Order,
    limit: Option<usize>,
    offset: usize,
    workspace: Option<usize>,
    source: Option<usize>,
    schedule: Option<usize>,
    /// The cursor position: (micros, id), in `order`.
    cursor: Option<(i64, String)>,
}

fn sort_key(r: &SessionRecord, order: Order) -> (i64, String) {
    let t = if order.by_updated() {
        r.updated_at
    } else {
        r.created_at
    };
    (t.timestamp_micros(), r.id.clone())
}

/// The oracle: every live session with its version, plus what the model needs to make
/// interesting arguments.
struct Model {
    store: SessionStore,
    /// The directory of a durable store.
    dir: Option<tempfile::TempDir>,
    live: BTreeMap<Key, (SessionRecord, u64)>,
    /// The message history of each live session that has one, oldest first.
    messages: BTreeMap<Key, Vec<Msg>>,
    /// Each user's registered agents, in registration order.
    agents: BTreeMap<usize, Vec<AgentRecord>>,
    /// The compact JSON of each live record, encoded by the model once per write.
    json: BTreeMap<Key, Vec<u8>>,
    /// Deleted records, for cursors that point at sessions no longer there.
    graveyard: Vec<SessionRecord>,
    /// Every version the store has answered, oldest first.
    versions: Vec<u64>,
    fixtures: Vec<Value>,
    last_list: Option<(ListQuery, ListSessionsResponse, Shadow)>,
}

impl Model {
    fn new(fixtures: Vec<Value>) -> Self {
        Self::with_store(SessionStore::new(), None, fixtures)
    }

    /// A model over a durable store in a directory of its own.
    fn durable(fixtures: Vec<Value>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Self::open(dir.path());
        Self::with_store(store, Some(dir), fixtures)
    }

    fn open(dir: &std::path::Path) -> SessionStore {
        SessionStore::builder()
            .snapshot_shards(3)
            .autosave(None)
            .fsync(FsyncPolicy::Never)
            .open(dir)
            .unwrap()
    }

    fn with_store(
        store: SessionStore,
        dir: Option<tempfile::TempDir>,
        fixtures: Vec<Value>,
    ) -> Self {
        Self {
            store,
            dir,
            messages: BTreeMap::new(),
            agents: BTreeMap::new(),
            live: BTreeMap::new(),
            json: BTreeMap::new(),
            graveyard: Vec::new(),
            versions: Vec::new(),
            fixtures,
            last_list: None,
        }
    }

    /// Records that a write gave `key` a new version; checks it is newer than any before.
    fn note_write(&mut self, key: Key, record: SessionRecord, version: u64) {
        if let Some(&last) = self.versions.last() {
            assert!(version > last, "version {version} not above {last}");
        }
        self.versions.push(version);
        self.json.insert(key, serde_json::to_vec(&record).unwrap());
        self.live.insert(key, (record, version));
    }

    fn version_of(&self, key: Key) -> u64 {
        self.store
            .get_versioned(key.user(), key.agent(), key.id())
            .expect("just written")
            .version
    }

    fn remove_scope(&mut self, keep: impl Fn(&Key) -> bool) -> usize {
        let gone: Vec<Key> = self.live.keys().copied().filter(|k| !keep(k)).collect();
        for k in &gone {
            self.remove(*k);
        }
        gone.len()
    }

    /// Forgets a live session and its history; returns it.
    fn remove(&mut self, key: Key) -> Option<SessionRecord> {
        let (rec, _) = self.live.remove(&key)?;
        self.json.remove(&key);
        self.messages.remove(&key);
        self.graveyard.push(rec.clone());
        Some(rec)
    }

    fn insert(&mut self, key: Key, record: SessionRecord) {
        let result = self.store.insert(record.clone());
        if self.live.contains_key(&key) {
            assert_duplicate(result, key);
        } else {
            let stored = result.unwrap();
            assert_eq!(*stored, record, "insert keeps the record as given");
            let version = self.version_of(key);
            self.note_write(key, record, version);
        }
    }

    fn create(&mut self, key: Key, name: usize, workspace: usize, source: usize) {
        let (src, sched) = source_of(source);
        let mut new = NewSession::new(key.user(), key.agent())
            .id(key.id())
            .name(NAMES[name])
            .workspace_id(WORKSPACES[workspace])
            .source(src.clone());
        if let Some(s) = sched {
            new = new.source_schedule_id(s);
        }
        let before = truncated_now();
        let result = self.store.create(new);
        let after = truncated_now();
        if self.live.contains_key(&key) {
            assert_duplicate(result, key);
        } else {
            let rec = result.unwrap();
            assert_eq!(
                (rec.user_id.as_str(), rec.agent_id.as_str(), rec.id.as_str()),
                (key.user(), key.agent(), key.id())
            );
            assert_eq!(rec.config.name, NAMES[name]);
            assert_eq!(rec.config.workspace_id, WORKSPACES[workspace]);
            assert_eq!(rec.source, src);
            assert_eq!(rec.source_schedule_id.as_deref(), sched);
            assert_eq!(rec.created_at, rec.updated_at);
            assert!(before <= rec.created_at && rec.created_at <= after);
            let version = self.version_of(key);
            self.note_write(key, SessionRecord::clone(&rec), version);
        }
    }

    /// Inserts a copy of a live or deleted record, moved to `key` (and maybe re-dated).
    fn insert_clone(&mut self, pick: usize, key: Key, created: Option<usize>) {
        let pool: Vec<&SessionRecord> = self
            .live
            .values()
            .map(|(r, _)| r)
            .chain(&self.graveyard)
            .collect();
        if pool.is_empty() {
            return;
        }
        let mut record = pool[pick % pool.len()].clone();
        record.user_id = key.user().into();
        record.agent_id = key.agent().into();
        record.id = key.id().into();
        if let Some(t) = created {
            record.created_at = agent_sessions::model::parse_timestamp(TIMES[t]).unwrap();
        }
        self.insert(key, record);
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Create {
                key,
                name,
                workspace,
                source,
            } => self.create(key, name, workspace, source),
            Op::InsertJson {
                key,
                fixture,
                name,
                workspace,
                source,
                created,
                updated,
                extra,
            } => {
                let mut v = self.fixtures[fixture % self.fixtures.len()].clone();
                let (src, sched) = source_of(source);
                v["id"] = key.id().into();
                v["user_id"] = key.user().into();
                v["agent_id"] = key.agent().into();
                v["created_at"] = TIMES[created].into();
                v["updated_at"] = TIMES[updated].into();
                v["source"] = src.as_str().into();
                v["source_schedule_id"] = sched.map_or(Value::Null, Value::from);
                v["config"]["name"] = NAMES[name].into();
                v["config"]["workspace_id"] = WORKSPACES[workspace].into();
                if extra {
                    v["team_id"] = "team-1".into();
                }
                let record: SessionRecord = serde_json::from_value(v).unwrap();
                self.insert(key, record);
            }
            Op::InsertClone { pick, key, created } => self.insert_clone(pick, key, created),
            Op::Get(key) => {
                let got = self.store.get(key.user(), key.agent(), key.id());
                assert_eq!(got.as_deref(), self.live.get(&key).map(|(r, _)| r));
            }
            Op::Update(key, change) => {
                let before = truncated_now();
                let result = self
                    .store
                    .update(key.user(), key.agent(), key.id(), |r| change.apply(r));
                let after = truncated_now();
                self.check_update(key, change, None, result, before, after);
            }
            Op::UpdateIfVersion(key, change, pick) => {
                let expected = match pick {
                    VersionPick::Current => self.live.get(&key).map_or(1, |(_, v)| *v),
                    VersionPick::Seen(i) if self.versions.is_empty() => i as u64 % 3,
                    VersionPick::Seen(i) => self.versions[i % self.versions.len()],
                };
                let before = truncated_now();
                let result = self.store.update_if_version(
                    key.user(),
                    key.agent(),
                    key.id(),
                    expected,
                    |r| change.apply(r),
                );
                let after = truncated_now();
                self.check_update(key, change, Some(expected), result, before, after);
            }
            Op::Delete(key) => {
                let result = self.store.delete(key.user(), key.agent(), key.id());
                match self.remove(key) {
                    Some(rec) => assert_eq!(*result.unwrap(), rec),
                    None => assert_not_found(result.map(|_| ()), key),
                }
            }
            Op::DeleteAgent(u, a) => {
                let n = self.store.delete_agent(USERS[u], AGENTS[a]).unwrap();
                assert_eq!(n, self.remove_scope(|k| (k.0, k.1) != (u, a)));
            }
            Op::DeleteAll(u) => {
                let n = self.store.delete_all(USERS[u]).unwrap();
                assert_eq!(n, self.remove_scope(|k| k.0 != u));
                self.agents.remove(&u);
            }
            Op::List(ref l) => self.list(l),
            Op::RegisterAgent(u, a, n) => self.register_agent(u, a, n),
            Op::UpdateAgent(u, a, n) => self.update_agent(u, a, n),
            Op::UnregisterAgent(u, a) => self.unregister_agent(u, a),
            Op::AppendMessage(key, m, t) => self.append_message(key, m, t),
            Op::Reopen { snapshot } => self.reopen(snapshot),
        }
    }

    fn register_agent(&mut self, u: usize, a: usize, n: usize) {
        let mut data = Object::new();
        data.insert("name".into(), NAMES[n].into());
        let mut record = AgentRecord::new(USERS[u], data);
        record.id = AGENTS[a].into();
        let result = self.store.register_agent(record.clone());
        let registered = self.agents.entry(u).or_default();
        if registered.iter().any(|r| r.id == AGENTS[a]) {
            assert!(
                matches!(result, Err(StoreError::DuplicateAgent { .. })),
                "{result:?}"
            );
        } else {
            assert_eq!(*result.unwrap(), record);
            registered.push(record);
        }
    }

    fn unregister_agent(&mut self, u: usize, a: usize) {
        let result = self.store.unregister_agent(USERS[u], AGENTS[a]);
        let registered = self.agents.entry(u).or_default();
        match registered.iter().position(|r| r.id == AGENTS[a]) {
            Some(i) => {
                let gone = registered.remove(i);
                assert_eq!(*result.unwrap(), gone);
                self.remove_scope(|k| (k.0, k.1) != (u, a));
            }
            None => assert!(
                matches!(result, Err(StoreError::AgentNotFound { .. })),
                "{result:?}"
            ),
        }
    }

    fn update_agent(&mut self, u: usize, a: usize, n: usize) {
        let result = self.store.update_agent(USERS[u], AGENTS[a], |d| {
            d.insert("name".into(), NAMES[n].into());
        });
        let registered = self.agents.entry(u).or_default();
        match registered.iter_mut().find(|r| r.id == AGENTS[a]) {
            Some(old) => {
                let new = result.unwrap();
                assert_eq!(new.name(), Some(NAMES[n]));
                assert_eq!((&new.id, new.created_at), (&old.id, old.created_at));
                assert!(new.updated_at >= old.updated_at);
                *old = AgentRecord::clone(&new);
            }
            None => assert!(
                matches!(result, Err(StoreError::AgentNotFound { .. })),
                "{result:?}"
            ),
        }
    }

    fn append_message(&mut self, key: Key, m: usize, t: usize) {
        let mut message = Msg::new("user", Role::User, vec![ContentBlock::text(NAMES[t])]);
        message.id = MSG_IDS[m].into();
        let result = self
            .store
            .append_message(key.user(), key.agent(), key.id(), message.clone());
        if !self.live.contains_key(&key) {
            assert_not_found(result.map(|_| ()), key);
            return;
        }
        let history = self.messages.entry(key).or_default();
        // As in AgentScope: the id of the last message replaces it.
        if history.last().is_some_and(|last| last.id == message.id) {
            history.pop();
        }
        history.push(message);
        assert_eq!(result.unwrap(), history.len() - 1);
    }

    /// Drops a durable store (after a snapshot, or leaving every change in the journal) and
    /// opens its directory again; `check_all` then holds the reopened store to the oracle.
    fn reopen(&mut self, snapshot: bool) {
        let Some(dir) = &self.dir else { return };
        if snapshot {
            self.store.snapshot().unwrap();
        }
        // The old store must be gone (its directory unlocked) before the new one opens.
        self.store = SessionStore::new();
        self.store = Self::open(dir.path());
        let recovery = self.store.recovery().unwrap();
        assert_eq!(recovery.torn_tail, None);
    }

    fn check_update(
        &mut self,
        key: Key,
        change: Change,
        expected_version: Option<u64>,
        result: Result<impl Into<Updated>, StoreError>,
        before: DateTime<Utc>,
        after: DateTime<Utc>,
    ) {
        let result = result.map(Into::into);
        let Some((old, version)) = self.live.get(&key).cloned() else {
            assert_not_found(result.map(|_| ()), key);
            return;
        };
        let stale = expected_version.is_some_and(|v| v != version);
        match (stale, change.identity_field(), result) {
            (
                true,
                _,
                Err(StoreError::VersionConflict {
                    id,
                    expected,
                    actual,
                }),
            ) => {
                assert_eq!(id, key.id());
                assert_eq!(Some(expected), expected_version);
                assert_eq!(actual, version);
            }
            // A stale identity change may be refused for either reason.
            (_, Some(f), Err(StoreError::IdentityChanged { id, field })) => {
                assert_eq!((id.as_str(), field), (key.id(), f));
            }
            (false, None, Ok(updated)) => {
                let mut expected = old.clone();
                change.apply(&mut expected);
                let new = SessionRecord::clone(&updated.record);
                assert!(
                    new.updated_at >= old.updated_at,
                    "updated_at went back: {} -> {}",
                    old.updated_at,
                    new.updated_at
                );
                assert!(new.updated_at <= after.max(old.updated_at));
                if old.updated_at < before {
                    assert!(new.updated_at >= before, "updated_at not refreshed");
                }
                expected.updated_at = new.updated_at;
                assert_eq!(new, expected);
                let new_version = updated.version.unwrap_or_else(|| self.version_of(key));
                assert_eq!(new_version, self.version_of(key));
                self.note_write(key, new, new_version);
            }
            (stale, field, result) => panic!(
                "update of {key:?} ({change:?}, expected version {expected_version:?}, current \
                 {version}, stale {stale}, identity {field:?}) gave {:?}",
                result.map(|u| u.record)
            ),
        }
    }

    fn list(&mut self, l: &ListOp) {
        let mut shadow = Shadow {
            user: l.user,
            agent: l.agent,
            order: l.order,
            limit: l.limit,
            offset: l.offset,
            workspace: l.workspace,
            source: l.source,
            schedule: l.schedule,
            cursor: None,
        };
        let mut q = ListQuery::new(USERS[l.user], AGENTS[l.agent]).order(l.order);
        if let Some(n) = l.limit {
            q = q.limit(n);
        }
        q = q.offset(l.offset);
        if let Some(w) = l.workspace {
            q = q.workspace_id(WORKSPACES[w]);
        }
        if let Some(s) = l.source {
            q = q.source(source_filter(s));
        }
        if let Some(s) = l.schedule {
            q = q.source_schedule_id(SCHEDULES[s]);
        }
        match l.cursor {
            CursorPick::None => {}
            CursorPick::After {
                pick,
                order,
                text,
                reorder,
            } => {
                let pool: Vec<&SessionRecord> = self
                    .live
                    .values()
                    .map(|(r, _)| r)
                    .chain(&self.graveyard)
                    .collect();
                if !pool.is_empty() {
                    let rec = pool[pick % pool.len()];
                    let mut cursor = Cursor::after(rec, order);
                    assert_eq!(cursor.order(), order);
                    if text {
                        let parsed: Cursor = cursor.to_string().parse().unwrap();
                        assert_eq!(parsed, cursor);
                        cursor = parsed;
                    }
                    q = q.cursor(cursor);
                    if let Some(o) = reorder {
                        q = q.order(o);
                    }
                    assert_eq!(q.effective_order(), order);
                    shadow.order = order;
                    shadow.cursor = Some(sort_key(rec, order));
                }
            }
            CursorPick::Next => {
                let Some((prev_q, prev_page, prev_shadow)) = self.last_list.take() else {
                    return;
                };
                let more = prev_shadow
                    .limit
                    .is_some_and(|n| n > 0 && prev_page.sessions.len() == n);
                let next = prev_q.next_page(&prev_page);
                assert_eq!(next.is_some(), more, "next_page of {prev_q:?}");
                let Some(next) = next else {
                    return;
                };
                let last = prev_page.sessions.last().unwrap();
                let mut expected = prev_q.clone();
                expected.offset = 0;
                let expected = expected.cursor(Cursor::after(last, prev_shadow.order));
                assert_eq!(next, expected);
                q = next;
                shadow = Shadow {
                    offset: 0,
                    cursor: Some(sort_key(last, prev_shadow.order)),
                    ..prev_shadow
                };
            }
        }

        let page = self.store.list(&q);
        let (want, total) = self.expected_page(&shadow);
        let got: Vec<&SessionRecord> = page.sessions.iter().map(|r| &**r).collect();
        assert_eq!(got, want, "page of {q:?}");
        assert_eq!(page.total, total, "total of {q:?}");
        assert_eq!(
            self.store.list_json(&q),
            serde_json::to_vec(&page).unwrap(),
            "list_json of {q:?}"
        );
        self.last_list = Some((q, page, shadow));
    }

    fn expected_page(&self, s: &Shadow) -> (Vec<&SessionRecord>, usize) {
        let mut matching: Vec<&SessionRecord> = self
            .live
            .iter()
            .filter(|(k, _)| (k.0, k.1) == (s.user, s.agent))
            .map(|(_, (r, _))| r)
            .filter(|r| {
                s.workspace
                    .is_none_or(|w| r.config.workspace_id == WORKSPACES[w])
            })
            .filter(|r| s.source.is_none_or(|i| r.source == source_filter(i)))
            .filter(|r| {
                s.schedule
                    .is_none_or(|i| r.source_schedule_id.as_deref() == Some(SCHEDULES[i]))
            })
            .collect();
        let total = matching.len();
        matching.sort_by_key(|r| sort_key(r, s.order));
        if s.order.descending() {
            matching.reverse();
        }
        if let Some(c) = &s.cursor {
            matching.retain(|r| {
                let k = sort_key(r, s.order);
                if s.order.descending() {
                    k < *c
                } else {
                    k > *c
                }
            });
        }
        let page = matching
            .into_iter()
            .skip(s.offset)
            .take(s.limit.unwrap_or(usize::MAX))
            .collect();
        (page, total)
    }

    /// After every operation: every key, every scope and the store's size agree with the model.
    fn check_all(&self) {
        for key in Key::all() {
            let got = self.store.get_versioned(key.user(), key.agent(), key.id());
            match (got, self.live.get(&key)) {
                (None, None) => {}
                (Some(v), Some((rec, version))) => {
                    assert_eq!(*v.record, *rec, "{key:?}");
                    assert_eq!(v.version, *version, "{key:?}");
                    assert_eq!(
                        self.store.get_json(key.user(), key.agent(), key.id()),
                        self.json.get(&key).cloned()
                    );
                }
                (got, want) => panic!("{key:?}: store has {got:?}, model has {want:?}"),
            }
        }
        for (u, user) in USERS.iter().enumerate() {
            for (a, agent) in AGENTS.iter().enumerate() {
                let n = self.live.keys().filter(|k| (k.0, k.1) == (u, a)).count();
                assert_eq!(self.store.count(user, agent), n, "{user}/{agent}");
            }
        }
        assert_eq!(self.store.len(), self.live.len());
        assert_eq!(self.store.is_empty(), self.live.is_empty());
        for key in Key::all() {
            let got = self
                .store
                .messages(key.user(), key.agent(), key.id(), 0, usize::MAX);
            if self.live.contains_key(&key) {
                let want = self.messages.get(&key).map_or(&[][..], Vec::as_slice);
                let got: Vec<Msg> = got.unwrap().iter().map(|m| Msg::clone(m)).collect();
                assert_eq!(got, want, "{key:?}");
            } else {
                assert_not_found(got.map(|_| ()), key);
            }
        }
        for (u, user) in USERS.iter().enumerate() {
            let got: Vec<AgentRecord> = self
                .store
                .agents(user)
                .iter()
                .map(|a| AgentRecord::clone(a))
                .collect();
            let want = self.agents.get(&u).map_or(&[][..], Vec::as_slice);
            assert_eq!(got, want, "{user}");
            for (a, agent) in AGENTS.iter().enumerate() {
                let known = want.iter().any(|r| r.id == *agent)
                    || self.live.keys().any(|k| (k.0, k.1) == (u, a));
                assert_eq!(self.store.agent_known(user, agent), known, "{user}/{agent}");
            }
        }
    }
}

/// An update's answer: the record, and the version when the call reports it.
struct Updated {
    record: Arc<SessionRecord>,
    version: Option<u64>,
}

impl From<Arc<SessionRecord>> for Updated {
    fn from(record: Arc<SessionRecord>) -> Self {
        Self {
            record,
            version: None,
        }
    }
}

impl From<agent_sessions::Versioned> for Updated {
    fn from(v: agent_sessions::Versioned) -> Self {
        Self {
            record: v.record,
            version: Some(v.version),
        }
    }
}

fn assert_duplicate<T: std::fmt::Debug>(result: Result<T, StoreError>, key: Key) {
    match result {
        Err(StoreError::DuplicateId {
            user_id,
            agent_id,
            id,
        }) => assert_eq!(
            (user_id.as_str(), agent_id.as_str(), id.as_str()),
            (key.user(), key.agent(), key.id())
        ),
        other => panic!("{key:?} exists, expected DuplicateId, got {other:?}"),
    }
}

fn assert_not_found(result: Result<(), StoreError>, key: Key) {
    match result {
        Err(StoreError::NotFound {
            user_id,
            agent_id,
            id,
        }) => assert_eq!(
            (user_id.as_str(), agent_id.as_str(), id.as_str()),
            (key.user(), key.agent(), key.id())
        ),
        other => panic!("{key:?} is absent, expected NotFound, got {other:?}"),
    }
}

proptest! {
    #[test]
    fn store_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut model = Model::new(fixtures());
        for op in &ops {
            model.apply(op);
            model.check_all();
        }
    }

    #[test]
    fn a_durable_store_behaves_like_the_model_across_reopens(
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut model = Model::durable(fixtures());
        for op in &ops {
            model.apply(op);
            model.check_all();
        }
        model.reopen(false);
        model.check_all();
    }
}

/// The model itself must be able to fail: a hand-written sequence whose every answer is known.
#[test]
fn model_agrees_on_a_known_sequence() {
    let mut model = Model::new(fixtures());
    let ops = [
        Op::InsertJson {
            key: Key(0, 0, 0),
            fixture: 0,
            name: 0,
            workspace: 0,
            source: 0,
            created: 1,
            updated: 5,
            extra: true,
        },
        Op::InsertJson {
            key: Key(0, 0, 1),
            fixture: 1,
            name: 1,
            workspace: 1,
            source: 1,
            created: 2, // ties with s0 on created_at
            updated: 0,
            extra: false,
        },
        Op::Create {
            key: Key(0, 0, 2),
            name: 2,
            workspace: 0,
            source: 3,
        },
        Op::Update(Key(0, 0, 0), Change::Name(2)), // future updated_at is kept
        Op::UpdateIfVersion(Key(0, 0, 1), Change::Workspace(0), VersionPick::Seen(0)),
        Op::List(ListOp {
            user: 0,
            agent: 0,
            order: Order::CreatedAsc,
            limit: Some(2),
            offset: 0,
            workspace: None,
            source: None,
            schedule: None,
            cursor: CursorPick::None,
        }),
        Op::List(ListOp {
            user: 0,
            agent: 0,
            order: Order::CreatedAsc,
            limit: None,
            offset: 0,
            workspace: None,
            source: None,
            schedule: None,
            cursor: CursorPick::Next,
        }),
        Op::DeleteAgent(0, 0),
    ];
    for op in &ops {
        model.apply(op);
        model.check_all();
    }
    // Spot-check what the model believed along the way.
    let (q, page, _) = model.last_list.as_ref().unwrap();
    assert_eq!(q.effective_order(), Order::CreatedAsc);
    assert_eq!(page.sessions.len(), 1);
    assert_eq!(page.sessions[0].id, "s2");
    assert_eq!(page.total, 3);
    assert!(model.store.is_empty());
    assert_eq!(model.graveyard.len(), 3);
}
