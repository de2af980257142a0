//! The sessions of one (user, agent): an id map and two ordered indexes under one lock.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use super::entry::Entry;
use super::index::{IdIndex, KeyView, Probe, Slot, SortKey};
use crate::model::{Msg, SessionRecord};
use crate::{ListQuery, Order};

/// How many of a partition's newest sessions its first-page cache holds.
pub(crate) const CACHED_PAGE: usize = 20;

/// One (user, agent)'s sessions.
///
/// Lock order: a caller may take this lock while holding a guard of the store's user map, never
/// the other way round.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) data: RwLock<PartitionData>,
    /// The snapshot shard it is saved in.
    pub(crate) shard: usize,
}

impl Partition {
    pub(crate) fn new(shard: usize) -> Self {
        Self {
            data: RwLock::default(),
            shard,
        }
    }
}

/// Invariant: `by_id`, `by_created` and `by_updated` hold the same sessions (the slots hold
/// the entries' record and JSON); a retired partition
/// is empty and is no longer reachable from the store's map, so writers that still hold it must
/// look the partition up again.
#[derive(Debug, Default)]
pub(crate) struct PartitionData {
    pub(crate) by_id: IdIndex,
    by_created: BTreeSet<SortKey>,
    by_updated: BTreeSet<SortKey>,
    /// Message histories, by session id; only sessions that are in `by_id` have one.
    pub(crate) messages: HashMap<Box<str>, Vec<Arc<Msg>>, foldhash::fast::RandomState>,
    pub(crate) retired: bool,
    /// The newest sessions, ready to answer a plain list: made by the first list that wants
    /// it, emptied by every change of the indexes (so it always agrees with them).
    first_page: OnceLock<FirstPage>,
}

/// Up to [`CACHED_PAGE`] newest sessions (by `created_at`, ties by id, descending): their
/// records, and their JSON joined by commas, as a list answer holds them.
#[derive(Debug)]
struct FirstPage {
    records: Vec<Arc<SessionRecord>>,
    json: Vec<u8>,
    /// `json`'s length after each record.
    ends: Vec<usize>,
}

/// A page taken from the first-page cache: the records, and their JSON joined by commas.
pub(crate) struct CachedPage<'a> {
    pub(crate) records: &'a [Arc<SessionRecord>],
    pub(crate) json: &'a [u8],
}

impl PartitionData {
    /// Adds an entry whose id is not present.
    pub(crate) fn insert(&mut self, entry: Arc<Entry>) {
        self.first_page.take();
        self.by_created.insert(SortKey::created(&entry));
        self.by_updated.insert(SortKey::updated(&entry));
        self.by_id.insert(entry);
    }

    /// Removes the entry with this id, and its message history.
    pub(crate) fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        let entry = self.by_id.remove(id)?;
        self.first_page.take();
        self.messages.remove(id);
        self.unindex(&entry);
        Some(entry)
    }

    /// Replaces the entry with `new`'s id (which must be present) by `new`; the message
    /// history stays. A key that did not move (`created_at` never does in an update) is
    /// replaced where it is, in one search.
    pub(crate) fn replace(&mut self, new: Arc<Entry>) {
        self.first_page.take();
        let (created, updated) = (SortKey::created(&new), SortKey::updated(&new));
        let Some(old) = self.by_id.insert(new) else {
            self.by_created.insert(created);
            self.by_updated.insert(updated);
            return;
        };
        let id = old.id();
        for (index, old_micros, key) in [
            (&mut self.by_created, old.created_micros(), created),
            (&mut self.by_updated, old.updated_micros(), updated),
        ] {
            if old_micros == key.micros {
                index.replace(key);
            } else {
                let at = Probe {
                    micros: old_micros,
                    id,
                };
                index.remove(&at as &dyn KeyView);
                index.insert(key);
            }
        }
    }

    /// Removes `entry` from the ordered indexes.
    fn unindex(&mut self, entry: &Entry) {
        let id = entry.id();
        let created = Probe {
            micros: entry.created_micros(),
            id,
        };
        self.by_created.remove(&created as &dyn KeyView);
        let updated = Probe {
            micros: entry.updated_micros(),
            id,
        };
        self.by_updated.remove(&updated as &dyn KeyView);
    }

    /// Empties the partition and marks it retired; returns the sessions it held.
    pub(crate) fn retire(&mut self) -> IdIndex {
        self.first_page.take();
        self.by_created = BTreeSet::new();
        self.by_updated = BTreeSet::new();
        self.messages = HashMap::default();
        self.retired = true;
        std::mem::take(&mut self.by_id)
    }

    /// Every entry, oldest first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.by_created
            .iter()
            .filter_map(|k| self.by_id.get(&k.slot.record.id))
    }

    /// Retires the partition if it holds no session; returns whether it did.
    pub(crate) fn retire_if_empty(&mut self) -> bool {
        if self.by_id.is_empty() && !self.retired {
            self.retired = true;
            return true;
        }
        false
    }

    /// The page `query` asks for, from the first-page cache, when it is one the cache holds:
    /// newest first by `created_at`, no filter, cursor or offset, at most [`CACHED_PAGE`]
    /// sessions. It is what [`PartitionData::select`] gives for such a query (a property test
    /// in `tests/list_cache.rs` compares them).
    pub(crate) fn cached_first_page(&self, query: &ListQuery) -> Option<CachedPage<'_>> {
        let plain = !query.is_filtered() && query.cursor.is_none() && query.offset == 0;
        if !plain || query.order != Order::CreatedDesc {
            return None;
        }
        let want = query.limit.unwrap_or(usize::MAX).min(self.by_id.len());
        if want > CACHED_PAGE {
            return None;
        }
        let page = self.first_page.get_or_init(|| self.make_first_page());
        let json_end = want.checked_sub(1).map_or(0, |last| page.ends[last]);
        Some(CachedPage {
            records: &page.records[..want],
            json: &page.json[..json_end],
        })
    }

    fn make_first_page(&self) -> FirstPage {
        let newest = self.by_created.iter().rev().take(CACHED_PAGE);
        let mut page = FirstPage {
            records: Vec::with_capacity(CACHED_PAGE.min(self.by_id.len())),
            json: Vec::new(),
            ends: Vec::with_capacity(CACHED_PAGE.min(self.by_id.len())),
        };
        let bytes: usize = newest.clone().map(|k| k.slot.json.len() + 1).sum();
        page.json.reserve_exact(bytes);
        for (i, key) in newest.enumerate() {
            if i > 0 {
                page.json.push(b',');
            }
            page.json.extend_from_slice(&key.slot.json);
            page.ends.push(page.json.len());
            page.records.push(Arc::clone(&key.slot.record));
        }
        page
    }

    /// The page `query` asks for, borrowed, and how many sessions match its filters in all.
    ///
    /// Cost: O(log n + offset + page) without filters; a filter scans the partition.
    pub(crate) fn select<'a>(&'a self, query: &ListQuery) -> (Vec<&'a Slot>, usize) {
        let order = query.effective_order();
        let index = if order.by_updated() {
            &self.by_updated
        } else {
            &self.by_created
        };
        let limit = query.limit.unwrap_or(usize::MAX);
        let at = query.cursor.as_ref().map(|c| Probe {
            micros: c.micros,
            id: &c.id,
        });
        let range: (Bound<&dyn KeyView>, Bound<&dyn KeyView>) = match &at {
            None => (Bound::Unbounded, Bound::Unbounded),
            Some(at) if order.descending() => (Bound::Unbounded, Bound::Excluded(at)),
            Some(at) => (Bound::Excluded(at), Bound::Unbounded),
        };
        let iter = index.range::<dyn KeyView, _>(range).map(|k| &k.slot);
        if !query.is_filtered() {
            let page = collect_page(iter, order.descending(), |_| true, query.offset, limit);
            return (page, self.by_id.len());
        }
        let matching = |s: &&Slot| query.matches(&s.record);
        if at.is_some() {
            // The total counts matches before the cursor too: a second pass.
            let page = collect_page(iter, order.descending(), matching, query.offset, limit);
            let total = index
                .iter()
                .filter(|k| query.matches(&k.slot.record))
                .count();
            return (page, total);
        }
        // One pass over the whole index: the page and the count of every match.
        let mut page = Vec::with_capacity(limit.min(64));
        let mut total = 0;
        let mut visit = |slot: &'a Slot| {
            if query.matches(&slot.record) {
                if total >= query.offset && page.len() < limit {
                    page.push(slot);
                }
                total += 1;
            }
        };
        if order.descending() {
            iter.rev().for_each(&mut visit);
        } else {
            iter.for_each(&mut visit);
        }
        (page, total)
    }
}

fn collect_page<'a, I, F>(
    iter: I,
    descending: bool,
    keep: F,
    offset: usize,
    limit: usize,
) -> Vec<&'a Slot>
where
    I: DoubleEndedIterator<Item = &'a Slot>,
    F: FnMut(&&'a Slot) -> bool,
{
    let mut page = Vec::with_capacity(limit.min(64));
    if descending {
        page.extend(iter.rev().filter(keep).skip(offset).take(limit));
    } else {
        page.extend(iter.filter(keep).skip(offset).take(limit));
    }
    page
}
