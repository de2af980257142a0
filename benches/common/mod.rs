//! Shared by the benchmarks: realistic records built from the AgentScope 2.0.0 fixture, the
//! layout of a store of N sessions, and the two baselines (a locked `HashMap` and `SQLite`).
//!
//! Everything is deterministic (a seeded `SplitMix64`), so every run and every harness sees
//! the same sessions.

// Each bench binary uses a different part of this module.
#![allow(dead_code)]

pub mod floors;

use std::collections::HashMap;
use std::sync::Arc;

use agent_sessions::model::{Msg, SessionRecord};
use agent_sessions::{ListSessionsResponse, SessionStore};
use chrono::{DateTime, Duration, Utc};
use parking_lot::RwLock;
use rusqlite::{params, Connection};
use serde_json::Value;

/// The store sizes to run, from `BENCH_SIZES` (comma-separated), default `10000,100000`.
pub fn sizes() -> Vec<usize> {
    let raw = std::env::var("BENCH_SIZES").unwrap_or_else(|_| "10000,100000".to_owned());
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("BENCH_SIZES: {s:?} is not a number"))
        })
        .collect()
}

/// A small, fast, seeded generator (`SplitMix64`): deterministic data, cheap random picks.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        // The modulo bias is irrelevant for picking benchmark inputs.
        usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
    }

    /// 32 lowercase hex digits, like AgentScope's uuid4-hex ids.
    pub fn hex_id(&mut self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }
}

/// The captured AgentScope 2.0.0 records.
pub fn fixture_records() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/agentscope-2.0.0/records.json"
    );
    let text = std::fs::read_to_string(path).expect("read the fixture records");
    serde_json::from_str(&text).expect("the fixture is a JSON array of records")
}

/// Trims a fixture record's state to what a plain session has: an empty summary, default
/// permissions, an empty read-file cache and no tasks.
pub fn trim_state(rec: &mut Value) {
    rec["state"]["summary"] = Value::String(String::new());
    rec["state"]["permission_context"] = serde_json::json!({
        "mode": "default", "working_directories": {}, "allow_rules": {},
        "deny_rules": {}, "ask_rules": {}
    });
    rec["state"]["tool_context"]["read_file_cache"] = Value::Array(vec![]);
    rec["state"]["tasks_context"] = serde_json::json!({ "tasks": [] });
}

/// `rec` as a session created without a chat model.
pub fn without_model(rec: &Value) -> Value {
    let mut rec = rec.clone();
    rec["config"]["chat_model_config"] = Value::Null;
    rec
}

/// Replaces every string `id` field in `v` (at any depth) with a fresh one.
fn refresh_ids(v: &mut Value, rng: &mut Rng) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "id" && child.is_string() {
                    *child = Value::String(rng.hex_id());
                } else {
                    refresh_ids(child, rng);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| refresh_ids(c, rng)),
        _ => {}
    }
}

/// Everything needed to make realistic records quickly: templates parsed once from the
/// fixture, cloned and given fresh ids and timestamps.
pub struct RecordMaker {
    /// A small record (~0.8 KB of compact JSON): the fixture's config and chat model, an empty
    /// context, default permissions and tool context, no tasks.
    small: SessionRecord,
    /// The same without a chat model.
    small_no_model: SessionRecord,
    /// One short user text message (the fixture's 317-byte shape), for "short context" records.
    short_msg: Msg,
    /// The fixture's largest record (12 messages, ~9.4 KB) whose context is replaced by
    /// `LARGE_CONTEXT` messages cycling through the fixture's message shapes.
    large: SessionRecord,
    /// The fixture's messages, in order (user text+data, assistant with thinking / tool call /
    /// tool result / hint / text, user text).
    messages: Vec<Value>,
}

/// Messages in a "large" session's context.
pub const LARGE_CONTEXT: usize = 100;
/// Page size of every list benchmark.
pub const PAGE: usize = 20;
const PAGE_I64: i64 = 20;

impl RecordMaker {
    pub fn new() -> Self {
        let fixture = fixture_records();
        // The fixture record with the longest context gives the large template and messages.
        let richest = fixture
            .iter()
            .max_by_key(|r| r["state"]["context"].as_array().map_or(0, Vec::len))
            .expect("fixture has records")
            .clone();
        let messages: Vec<Value> = richest["state"]["context"]
            .as_array()
            .expect("context is an array")
            .clone();

        let mut small = richest.clone();
        small["state"]["context"] = Value::Array(vec![]);
        trim_state(&mut small);
        let small_no_model = without_model(&small);

        let short_msg = messages
            .iter()
            .min_by_key(|m| m.to_string().len())
            .expect("fixture has messages")
            .clone();

        let parse = |v: Value| -> SessionRecord {
            serde_json::from_value(v).expect("fixture-derived record")
        };
        Self {
            small: parse(small),
            small_no_model: parse(small_no_model),
            short_msg: serde_json::from_value(short_msg).expect("fixture message"),
            large: parse(richest),
            messages,
        }
    }

    /// A fixture message (`i` cycles through the fixture's context) with fresh ids.
    pub fn message(&self, i: usize, rng: &mut Rng) -> Msg {
        let mut m = self.messages[i % self.messages.len()].clone();
        refresh_ids(&mut m, rng);
        serde_json::from_value(m).expect("fixture message")
    }

    /// The short user text message, with fresh ids: what an update appends.
    pub fn short_message(&self, rng: &mut Rng) -> Msg {
        let mut m = self.short_msg.clone();
        m.id = rng.hex_id();
        m
    }

    fn stamp(
        rec: &mut SessionRecord,
        user: &str,
        agent: &str,
        created: DateTime<Utc>,
        rng: &mut Rng,
    ) {
        rec.id = rng.hex_id();
        user.clone_into(&mut rec.user_id);
        agent.clone_into(&mut rec.agent_id);
        rec.created_at = created;
        let later = i64::try_from(rng.next_u64() % 3_600_000_000).unwrap_or(0);
        rec.updated_at = created + Duration::microseconds(later);
        rec.state.session_id = rng.hex_id();
        rec.state.reply_id = rng.hex_id();
    }

    /// A small record (~0.6 KB): 1 in 8 with the fixture's chat model (else none, as a
    /// session created without one), 1 in 10 with one short message in the context; workspace
    /// one of three per user.
    pub fn small(
        &self,
        user: &str,
        agent: &str,
        created: DateTime<Utc>,
        rng: &mut Rng,
    ) -> SessionRecord {
        let r = rng.next_u64();
        let mut rec = if r.is_multiple_of(8) {
            self.small.clone()
        } else {
            self.small_no_model.clone()
        };
        Self::stamp(&mut rec, user, agent, created, rng);
        rec.config.workspace_id = workspace(user, (r >> 8) % 3);
        rec.config.name = format!("session {}", (r >> 16) % 1000);
        if (r >> 24).is_multiple_of(10) {
            let m = self.short_message(rng);
            rec.state.context.push(m.into());
        }
        rec
    }

    /// A large record: the fixture's richest record with `LARGE_CONTEXT` messages.
    pub fn large(
        &self,
        user: &str,
        agent: &str,
        created: DateTime<Utc>,
        rng: &mut Rng,
    ) -> SessionRecord {
        self.richest_with(LARGE_CONTEXT, user, agent, created, rng)
    }

    /// A medium record: the fixture's richest record as captured (12 messages, ~9 KB), with
    /// fresh ids.
    pub fn medium(
        &self,
        user: &str,
        agent: &str,
        created: DateTime<Utc>,
        rng: &mut Rng,
    ) -> SessionRecord {
        self.richest_with(self.messages.len(), user, agent, created, rng)
    }

    /// The fixture's richest record with a context of `messages` fixture messages.
    fn richest_with(
        &self,
        messages: usize,
        user: &str,
        agent: &str,
        created: DateTime<Utc>,
        rng: &mut Rng,
    ) -> SessionRecord {
        let mut rec = self.large.clone();
        Self::stamp(&mut rec, user, agent, created, rng);
        rec.config.workspace_id = workspace(user, 0);
        rec.state.context = (0..messages).map(|i| self.message(i, rng).into()).collect();
        rec
    }
}

impl Default for RecordMaker {
    fn default() -> Self {
        Self::new()
    }
}

/// The workspace ids of a user: three per user.
pub fn workspace(user: &str, k: u64) -> String {
    format!("ws-{user}-{k}")
}

/// Where the N sessions of a benchmark store go.
///
/// - `small_pairs`: (user, agent) pairs of `PER_PAIR` small sessions each, 5 agents per user;
///   almost all of N.
/// - `deep_pair`: one pair with `deep_len` small sessions, for deep pages.
/// - `large_pairs`: pairs of `PER_PAIR` large sessions (100 messages, ~69 KB), and as many
///   pairs of medium ones (the fixture's 12 messages, ~9 KB); only the update benchmarks touch
///   them, so every listed page is of small records.
#[derive(Clone, Debug)]
pub struct Layout {
    pub n: usize,
    pub small_pairs: usize,
    pub deep_len: usize,
    pub large_pairs: usize,
}

pub const PER_PAIR: usize = 50;
pub const AGENTS_PER_USER: usize = 5;

impl Layout {
    pub fn new(n: usize) -> Self {
        let deep_len = (n / 10).min(10_000);
        let large_pairs = (n / 100).min(1_000) / PER_PAIR;
        let small = n - deep_len - 2 * large_pairs * PER_PAIR;
        Self {
            n,
            small_pairs: small.div_ceil(PER_PAIR),
            deep_len,
            large_pairs,
        }
    }

    pub fn small_pair(i: usize) -> (String, String) {
        (
            format!("user-{:07}", i / AGENTS_PER_USER),
            format!("agent-{}", i % AGENTS_PER_USER),
        )
    }

    pub fn deep_pair() -> (String, String) {
        ("user-deep".to_owned(), "agent-deep".to_owned())
    }

    pub fn large_pair(i: usize) -> (String, String) {
        (format!("user-large-{i:05}"), "agent-0".to_owned())
    }

    pub fn medium_pair(i: usize) -> (String, String) {
        (format!("user-medium-{i:05}"), "agent-0".to_owned())
    }
}

/// A session's address.
#[derive(Clone, Debug)]
pub struct Key {
    pub user: Arc<str>,
    pub agent: Arc<str>,
    pub id: String,
}

/// The N sessions, generated one at a time (so 1M records never sit in a Vec).
///
/// Calls `sink(kind, record)` for each; returns the keys of each kind's sessions, in creation
/// order.
pub fn generate(layout: &Layout, mut sink: impl FnMut(Kind, SessionRecord)) -> Keys {
    let maker = RecordMaker::new();
    let mut rng = Rng::new(0x5E55_1025);
    let base: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("base time");
    let mut keys = Keys::default();
    let mut tick = 0i64;
    let mut next_time = |rng: &mut Rng| {
        // Distinct, increasing creation times with a few µs to a few s between sessions.
        tick += 1 + i64::try_from(rng.next_u64() % 3_000_000).unwrap_or(0);
        base + Duration::microseconds(tick)
    };
    let small_total = layout.n - layout.deep_len - 2 * layout.large_pairs * PER_PAIR;
    // Round-robin over pairs so each pair's sessions are spread in time, as in real use.
    for k in 0..small_total {
        let p = k % layout.small_pairs;
        let (user, agent) = Layout::small_pair(p);
        let created = next_time(&mut rng);
        let rec = maker.small(&user, &agent, created, &mut rng);
        keys.small.push(Key {
            user: user.into(),
            agent: agent.into(),
            id: rec.id.clone(),
        });
        sink(Kind::Small, rec);
        // The deep pair's sessions are interleaved with the others, evenly.
        while keys.deep.len() < (k + 1) * layout.deep_len / small_total {
            let (user, agent) = Layout::deep_pair();
            let created = next_time(&mut rng);
            let rec = maker.small(&user, &agent, created, &mut rng);
            keys.deep.push(Key {
                user: user.into(),
                agent: agent.into(),
                id: rec.id.clone(),
            });
            sink(Kind::Deep, rec);
        }
    }
    for k in 0..layout.large_pairs * PER_PAIR {
        let (user, agent) = Layout::large_pair(k % layout.large_pairs);
        let created = next_time(&mut rng);
        let rec = maker.large(&user, &agent, created, &mut rng);
        keys.large.push(Key {
            user: user.into(),
            agent: agent.into(),
            id: rec.id.clone(),
        });
        sink(Kind::Large, rec);
        let (user, agent) = Layout::medium_pair(k % layout.large_pairs);
        let created = next_time(&mut rng);
        let rec = maker.medium(&user, &agent, created, &mut rng);
        keys.medium.push(Key {
            user: user.into(),
            agent: agent.into(),
            id: rec.id.clone(),
        });
        sink(Kind::Medium, rec);
    }
    keys
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Small,
    Deep,
    Large,
    Medium,
}

#[derive(Clone, Debug, Default)]
pub struct Keys {
    pub small: Vec<Key>,
    pub deep: Vec<Key>,
    pub large: Vec<Key>,
    pub medium: Vec<Key>,
}

/// Baseline 1: what naive in-memory services do. One lock over a map by session id; a list
/// scans every session, keeps the (user, agent)'s, sorts newest first, and clones the page.
#[derive(Debug, Default)]
pub struct NaiveMap {
    pub map: RwLock<HashMap<String, SessionRecord>>,
}

impl NaiveMap {
    pub fn insert(&self, rec: SessionRecord) {
        self.map.write().insert(rec.id.clone(), rec);
    }

    /// The first `limit` sessions newest first, filtered by workspace if given, and the total.
    pub fn list(
        &self,
        user: &str,
        agent: &str,
        workspace: Option<&str>,
        limit: usize,
    ) -> (Vec<SessionRecord>, usize) {
        let map = self.map.read();
        let mut hits: Vec<&SessionRecord> = map
            .values()
            .filter(|r| r.user_id == user && r.agent_id == agent)
            .filter(|r| workspace.is_none_or(|w| r.config.workspace_id == w))
            .collect();
        hits.sort_unstable_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let total = hits.len();
        (hits.into_iter().take(limit).cloned().collect(), total)
    }

    pub fn get(&self, id: &str) -> Option<SessionRecord> {
        self.map.read().get(id).cloned()
    }

    /// Updates in place under the write lock (no copy, no encoding).
    pub fn update(&self, id: &str, f: impl FnOnce(&mut SessionRecord)) -> bool {
        let mut map = self.map.write();
        match map.get_mut(id) {
            Some(r) => {
                f(r);
                r.updated_at = Utc::now();
                true
            }
            None => false,
        }
    }
}

/// Baseline 2: `SQLite` in memory, one table with the record's JSON and an index on
/// `(user_id, agent_id, created_at)`. `workspace_id` gets a column of its own (not indexed) so
/// the filtered list does not have to parse JSON: a choice in `SQLite`'s favour.
pub struct Sqlite {
    pub conn: Connection,
}

impl Sqlite {
    pub fn new() -> Self {
        let conn = Connection::open_in_memory().expect("open sqlite");
        conn.execute_batch(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             CREATE TABLE sessions (
                 id TEXT PRIMARY KEY,
                 user_id TEXT NOT NULL,
                 agent_id TEXT NOT NULL,
                 created_at INTEGER NOT NULL,
                 workspace_id TEXT NOT NULL,
                 json TEXT NOT NULL
             );
             CREATE INDEX sessions_by_owner ON sessions (user_id, agent_id, created_at);
             BEGIN;",
        )
        .expect("create schema");
        conn.set_prepared_statement_cache_capacity(32);
        Self { conn }
    }

    /// Adds a record (call `commit` after the bulk load).
    pub fn insert(&self, rec: &SessionRecord) {
        let json = serde_json::to_string(rec).expect("encode");
        self.conn
            .prepare_cached(
                "INSERT INTO sessions (id, user_id, agent_id, created_at, workspace_id, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .expect("prepare insert")
            .execute(params![
                rec.id,
                rec.user_id,
                rec.agent_id,
                rec.created_at.timestamp_micros(),
                rec.config.workspace_id,
                json
            ])
            .expect("insert");
    }

    pub fn commit(&self) {
        self.conn.execute_batch("COMMIT; ANALYZE;").expect("commit");
    }

    /// The page's JSON rows, newest first, and `SELECT COUNT(*)` for the total.
    pub fn list(&self, user: &str, agent: &str, offset: usize) -> (Vec<String>, usize) {
        let mut page = self
            .conn
            .prepare_cached(
                "SELECT json FROM sessions WHERE user_id = ?1 AND agent_id = ?2
                 ORDER BY created_at DESC LIMIT ?3 OFFSET ?4",
            )
            .expect("prepare list");
        let rows = page
            .query_map(
                params![user, agent, PAGE_I64, i64::try_from(offset).unwrap_or(0)],
                |r| r.get::<_, String>(0),
            )
            .expect("list")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        (rows, self.count(user, agent, None))
    }

    /// The page after the session created at `before` (keyset paging, the cursor's analogue;
    /// creation times are distinct in the benchmark data).
    pub fn list_after(&self, user: &str, agent: &str, before: i64) -> (Vec<String>, usize) {
        let mut page = self
            .conn
            .prepare_cached(
                "SELECT json FROM sessions WHERE user_id = ?1 AND agent_id = ?2
                 AND created_at < ?3 ORDER BY created_at DESC LIMIT ?4",
            )
            .expect("prepare list_after");
        let rows = page
            .query_map(params![user, agent, before, PAGE_I64], |r| {
                r.get::<_, String>(0)
            })
            .expect("list_after")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        (rows, self.count(user, agent, None))
    }

    /// The first page of one workspace's sessions, and their count.
    pub fn list_workspace(&self, user: &str, agent: &str, ws: &str) -> (Vec<String>, usize) {
        let mut page = self
            .conn
            .prepare_cached(
                "SELECT json FROM sessions WHERE user_id = ?1 AND agent_id = ?2
                 AND workspace_id = ?3 ORDER BY created_at DESC LIMIT ?4",
            )
            .expect("prepare list_workspace");
        let rows = page
            .query_map(params![user, agent, ws, PAGE_I64], |r| {
                r.get::<_, String>(0)
            })
            .expect("list_workspace")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        (rows, self.count(user, agent, Some(ws)))
    }

    pub fn count(&self, user: &str, agent: &str, ws: Option<&str>) -> usize {
        let n: i64 = match ws {
            None => self
                .conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM sessions WHERE user_id = ?1 AND agent_id = ?2",
                )
                .expect("prepare count")
                .query_row(params![user, agent], |r| r.get(0)),
            Some(ws) => self
                .conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM sessions WHERE user_id = ?1 AND agent_id = ?2
                     AND workspace_id = ?3",
                )
                .expect("prepare count")
                .query_row(params![user, agent, ws], |r| r.get(0)),
        }
        .expect("count");
        usize::try_from(n).unwrap_or(0)
    }

    pub fn get(&self, id: &str) -> Option<String> {
        self.conn
            .prepare_cached("SELECT json FROM sessions WHERE id = ?1")
            .expect("prepare get")
            .query_row(params![id], |r| r.get(0))
            .ok()
    }

    /// Read, decode, change, encode, write back: a JSON-column service's update.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut SessionRecord)) -> bool {
        let Some(json) = self.get(id) else {
            return false;
        };
        let mut rec: SessionRecord = serde_json::from_str(&json).expect("decode");
        f(&mut rec);
        rec.updated_at = Utc::now();
        let json = serde_json::to_string(&rec).expect("encode");
        self.conn
            .prepare_cached("UPDATE sessions SET json = ?2 WHERE id = ?1")
            .expect("prepare update")
            .execute(params![id, json])
            .expect("update")
            == 1
    }
}

impl Default for Sqlite {
    fn default() -> Self {
        Self::new()
    }
}

/// The body of a list answer built from JSON rows, as a JSON-column service would send it.
pub fn body_from_rows(rows: &[String], total: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.iter().map(|r| r.len() + 1).sum::<usize>() + 40);
    out.extend_from_slice(b"{\"sessions\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r.as_bytes());
    }
    out.extend_from_slice(b"],\"total\":");
    out.extend_from_slice(total.to_string().as_bytes());
    out.push(b'}');
    out
}

/// Loads the N sessions into the store (and into the baselines, when given).
pub fn load(
    layout: &Layout,
    store: &SessionStore,
    naive: Option<&NaiveMap>,
    sqlite: Option<&Sqlite>,
) -> Keys {
    let keys = generate(layout, |_, rec| {
        if let Some(db) = sqlite {
            db.insert(&rec);
        }
        if let Some(m) = naive {
            m.insert(rec.clone());
        }
        store.insert(rec).expect("insert into the store");
    });
    if let Some(db) = sqlite {
        db.commit();
    }
    keys
}

/// Mean compact-JSON size of a page, for the report.
pub fn page_bytes(page: &ListSessionsResponse) -> usize {
    serde_json::to_vec(page).map_or(0, |v| v.len())
}
