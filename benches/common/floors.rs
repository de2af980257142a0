//! The floors: the least possible cost of each job the store does, measured beside it in the
//! same run, so that a target is a ratio to a floor rather than a round number (absolute times
//! drift ±30% on a shared machine; a ratio between two figures of one run does not).

use std::collections::HashMap;
use std::sync::Arc;

use agent_sessions::model::{Msg, SessionRecord};
use agent_sessions::{ListQuery, ListSessionsResponse, SessionStore};
use parking_lot::RwLock;

/// Encode floor: `serde_json::to_vec` of a record as it will be stored. Nothing can store a
/// new version for less than one encoding of it.
pub fn encode(record: &SessionRecord) -> Vec<u8> {
    serde_json::to_vec(record).expect("a record encodes")
}

/// Parse floor: the typed parse of every record's stored bytes, on one thread. Nothing can
/// open a store of these records for less.
pub fn parse_all(stored: &[Vec<u8>]) -> usize {
    stored
        .iter()
        .map(|bytes| {
            let record: SessionRecord = serde_json::from_slice(bytes).expect("a stored record");
            record.state.context.len()
        })
        .sum()
}

type Pair = (String, String);

/// List floors: every (user, agent)'s first page, ready-made, in a `HashMap`: as records
/// (what a typed list must at least do: look the page up and clone its `Arc`s) and as the
/// answer's JSON bytes (what a JSON list must at least do: look it up and copy it).
pub struct FirstPages {
    records: HashMap<Pair, (Vec<Arc<SessionRecord>>, usize)>,
    json: HashMap<Pair, Vec<u8>>,
}

impl FirstPages {
    /// The first pages the store answers to `queries` (each a first page of one pair).
    pub fn from_store(store: &SessionStore, queries: &[ListQuery]) -> Self {
        let mut records = HashMap::with_capacity(queries.len());
        let mut json = HashMap::with_capacity(queries.len());
        for q in queries {
            let pair = (q.user_id.clone(), q.agent_id.clone());
            let page = store.list(q);
            json.insert(pair.clone(), store.list_json(q));
            records.insert(pair, (page.sessions, page.total));
        }
        Self { records, json }
    }

    /// Lookup and clone of the page's `Arc`s.
    pub fn list(&self, pair: &Pair) -> ListSessionsResponse {
        let (sessions, total) = &self.records[pair];
        ListSessionsResponse {
            sessions: sessions.clone(),
            total: *total,
        }
    }

    /// Lookup and copy of the page's JSON bytes.
    pub fn list_json(&self, pair: &Pair) -> Vec<u8> {
        self.json[pair].clone()
    }
}

/// Append floor: pushing an `Arc<Msg>` onto a `Vec` behind a `RwLock` (emptied now and then
/// so that it keeps its size).
#[derive(Default)]
pub struct Appends(RwLock<Vec<Arc<Msg>>>);

impl Appends {
    pub fn push(&self, message: &Arc<Msg>) {
        let mut v = self.0.write();
        if v.len() == 4096 {
            v.clear();
        }
        v.push(Arc::clone(message));
    }
}
