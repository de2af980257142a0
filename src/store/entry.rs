//! One stored version of a session: the record, its cached JSON and its version.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::model::SessionRecord;
use crate::StoreError;

/// An element of the partition's ordered indexes: an entry under a timestamp in microseconds,
/// ties broken by its id. The timestamp is inline, so a comparison reaches into the entry only
/// on a tie; the id is the record's own, not a copy.
#[derive(Clone, Debug)]
pub(crate) struct SortKey {
    pub(crate) micros: i64,
    pub(crate) entry: Arc<Entry>,
}

impl SortKey {
    pub(crate) fn created(entry: &Arc<Entry>) -> Self {
        Self {
            micros: entry.created_micros(),
            entry: Arc::clone(entry),
        }
    }

    pub(crate) fn updated(entry: &Arc<Entry>) -> Self {
        Self {
            micros: entry.updated_micros(),
            entry: Arc::clone(entry),
        }
    }
}

/// A position in an ordered index, `(micros, id)`: what a [`SortKey`] is ordered by, and what
/// a lookup (a cursor, a removal) needs without an entry at hand.
pub(crate) trait KeyView {
    fn micros(&self) -> i64;
    fn id(&self) -> &str;
}

/// A position to look up in an ordered index.
pub(crate) struct Probe<'a> {
    pub(crate) micros: i64,
    pub(crate) id: &'a str,
}

impl KeyView for Probe<'_> {
    fn micros(&self) -> i64 {
        self.micros
    }
    fn id(&self) -> &str {
        self.id
    }
}

impl KeyView for SortKey {
    fn micros(&self) -> i64 {
        self.micros
    }
    fn id(&self) -> &str {
        self.entry.id()
    }
}

fn cmp_keys(a: &(impl KeyView + ?Sized), b: &(impl KeyView + ?Sized)) -> Ordering {
    a.micros().cmp(&b.micros()).then_with(|| a.id().cmp(b.id()))
}

impl<'a> Borrow<dyn KeyView + 'a> for SortKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_keys(self, other)
    }
}

impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for dyn KeyView + '_ {}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_keys(self, other)
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SortKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SortKey {}

/// The partition's sessions by id: a set of entries looked up by their record's id, so that
/// the id is not stored twice.
#[derive(Debug, Default)]
pub(crate) struct IdIndex(HashSet<ById>);

/// An entry, hashed and compared by its id.
#[derive(Debug)]
struct ById(Arc<Entry>);

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        self.0.id()
    }
}

impl Hash for ById {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id().hash(state);
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id() == other.0.id()
    }
}

impl Eq for ById {}

impl IdIndex {
    pub(crate) fn get(&self, id: &str) -> Option<&Arc<Entry>> {
        self.0.get(id).map(|k| &k.0)
    }

    pub(crate) fn contains_key(&self, id: &str) -> bool {
        self.0.contains(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `entry`, replacing any with its id.
    pub(crate) fn insert(&mut self, entry: Arc<Entry>) {
        self.0.replace(ById(entry));
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        self.0.take(id).map(|k| k.0)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.0.iter().map(|k| &k.0)
    }
}

/// An immutable version of one session. Writers replace the whole `Arc<Entry>`; readers never
/// see a half-applied change.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) record: Arc<SessionRecord>,
    /// The record's compact JSON: `serde_json::to_vec(&*record)`, computed once per version.
    pub(crate) json: Box<[u8]>,
    /// Unique in the store and growing with every write (see `Versioned`).
    pub(crate) version: u64,
}

/// How deeply a record, message or agent may nest JSON arrays and objects. The files of a
/// durable store wrap each in a few more levels and must stay within what `serde_json` reads
/// back (128).
pub(crate) const MAX_JSON_DEPTH: usize = 100;

/// The deepest nesting of arrays and objects in compact JSON `bytes`.
pub(crate) fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Fails with `TooDeep` when `json` nests deeper than [`MAX_JSON_DEPTH`], not counting the
/// `wrapping` levels the store itself adds around what the caller gave (an agent's `data` sits
/// one level inside its record).
pub(crate) fn check_depth(id: &str, json: &[u8], wrapping: usize) -> Result<(), StoreError> {
    let depth = json_depth(json).saturating_sub(wrapping);
    if depth > MAX_JSON_DEPTH {
        return Err(StoreError::TooDeep {
            id: id.to_owned(),
            depth,
            limit: MAX_JSON_DEPTH,
        });
    }
    Ok(())
}

impl Entry {
    /// Encodes `record` (outside any lock) and checks it against the size limit.
    pub(crate) fn encode(
        record: SessionRecord,
        version: u64,
        max_record_bytes: usize,
    ) -> Result<Self, StoreError> {
        let json = serde_json::to_vec(&record).map_err(|source| StoreError::Encode {
            id: record.id.clone(),
            source,
        })?;
        if json.len() > max_record_bytes {
            return Err(StoreError::RecordTooLarge {
                id: record.id,
                size: json.len(),
                limit: max_record_bytes,
            });
        }
        check_depth(&record.id, &json, 0)?;
        Ok(Self {
            record: Arc::new(record),
            json: json.into_boxed_slice(),
            version,
        })
    }

    /// The session id.
    pub(crate) fn id(&self) -> &str {
        &self.record.id
    }

    pub(crate) fn created_micros(&self) -> i64 {
        self.record.created_at.timestamp_micros()
    }

    pub(crate) fn updated_micros(&self) -> i64 {
        self.record.updated_at.timestamp_micros()
    }
}
