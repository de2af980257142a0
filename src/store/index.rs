//! The partition's indexes: its sessions by id, and ordered by a timestamp (what a list
//! pages through). Each holds entries or what a list needs of them; none holds anything else.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::entry::Entry;
use crate::model::SessionRecord;

/// What the ordered indexes hold: what a list returns, one pointer away, so that a page costs
/// one cache miss per session instead of two (the entry, then the record or its bytes).
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub(crate) record: Arc<SessionRecord>,
    /// The entry's cached JSON.
    pub(crate) json: Arc<[u8]>,
}

impl Slot {
    /// What the ordered indexes keep of `entry`.
    pub(crate) fn of(entry: &Entry) -> Self {
        Self {
            record: Arc::clone(&entry.record),
            json: Arc::clone(&entry.json),
        }
    }
}

/// An element of the partition's ordered indexes: what a list returns of a session (its record
/// and cached JSON, one pointer away, so a page costs one cache miss per session rather than
/// two), under a timestamp in microseconds, ties broken by the record's id. The timestamp is
/// inline, so a comparison reaches into the record only on a tie; the id is the record's own,
/// not a copy.
#[derive(Clone, Debug)]
pub(crate) struct SortKey {
    pub(crate) micros: i64,
    pub(crate) slot: Slot,
}

impl SortKey {
    pub(crate) fn created(entry: &Entry) -> Self {
        Self {
            micros: entry.created_micros(),
            slot: Slot::of(entry),
        }
    }

    pub(crate) fn updated(entry: &Entry) -> Self {
        Self {
            micros: entry.updated_micros(),
            slot: Slot::of(entry),
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
        &self.slot.record.id
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
pub(crate) struct IdIndex(HashSet<ById, foldhash::fast::RandomState>);

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

    /// Adds `entry`, replacing any with its id; returns the one replaced.
    pub(crate) fn insert(&mut self, entry: Arc<Entry>) -> Option<Arc<Entry>> {
        self.0.replace(ById(entry)).map(|k| k.0)
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        self.0.take(id).map(|k| k.0)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.0.iter().map(|k| &k.0)
    }
}
