//! One stored version of a session: the record, its cached JSON and its version.

use std::borrow::Borrow;
use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io;
use std::sync::Arc;

use serde::Serialize;
use serde_json::ser::Formatter;

use super::partition::Slot;
use crate::model::SessionRecord;
use crate::StoreError;

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
            slot: entry.slot(),
        }
    }

    pub(crate) fn updated(entry: &Entry) -> Self {
        Self {
            micros: entry.updated_micros(),
            slot: entry.slot(),
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
    pub(crate) json: Arc<[u8]>,
    /// Unique in the store and growing with every write (see `Versioned`).
    pub(crate) version: u64,
}

/// How deeply a record, message or agent may nest JSON arrays and objects. The files of a
/// durable store wrap each in a few more levels and must stay within what `serde_json` reads
/// back (128).
pub(crate) const MAX_JSON_DEPTH: usize = 100;

/// The compact JSON of `value`: the bytes of `serde_json::to_vec(value)`.
///
/// Fails with `TooDeep` when it nests arrays and objects deeper than [`MAX_JSON_DEPTH`], not
/// counting the `wrapping` levels the store itself adds around what the caller gave (an
/// agent's `data` sits one level inside its record). The depth is counted while writing, and
/// writing stops at the first level over the limit: no second pass, and a value nested far
/// deeper than any stack could serialize is refused cleanly.
pub(crate) fn encode_json<T: Serialize + ?Sized>(
    id: &str,
    value: &T,
    wrapping: usize,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(1024);
    let too_deep = Cell::new(false);
    let formatter = DepthLimit {
        depth: 0,
        limit: MAX_JSON_DEPTH + wrapping,
        too_deep: &too_deep,
    };
    let result = value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, formatter,
    ));
    match result {
        Ok(()) => Ok(out),
        Err(_) if too_deep.get() => Err(StoreError::TooDeep {
            id: id.to_owned(),
            depth: MAX_JSON_DEPTH + 1,
            limit: MAX_JSON_DEPTH,
        }),
        Err(source) => Err(StoreError::Encode {
            id: id.to_owned(),
            source,
        }),
    }
}

/// `serde_json`'s compact formatter, counting how deep it is and failing past `limit`.
struct DepthLimit<'a> {
    depth: usize,
    limit: usize,
    /// Set when it failed for that reason.
    too_deep: &'a Cell<bool>,
}

impl DepthLimit<'_> {
    fn enter<W: ?Sized + io::Write>(&mut self, writer: &mut W, open: &[u8]) -> io::Result<()> {
        self.depth += 1;
        if self.depth > self.limit {
            self.too_deep.set(true);
            return Err(io::Error::other("nested too deep"));
        }
        writer.write_all(open)
    }
}

impl Formatter for DepthLimit<'_> {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.enter(writer, b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth -= 1;
        writer.write_all(b"]")
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.enter(writer, b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth -= 1;
        writer.write_all(b"}")
    }
}

impl Entry {
    /// Encodes `record` (outside any lock) and checks it against the size limit.
    pub(crate) fn encode(
        record: SessionRecord,
        version: u64,
        max_record_bytes: usize,
    ) -> Result<Self, StoreError> {
        let json = encode_json(&record.id, &record, 0)?;
        if json.len() > max_record_bytes {
            return Err(StoreError::RecordTooLarge {
                id: record.id,
                size: json.len(),
                limit: max_record_bytes,
            });
        }
        Ok(Self {
            record: Arc::new(record),
            json: Arc::from(json),
            version,
        })
    }

    /// What the ordered indexes keep of it.
    pub(crate) fn slot(&self) -> Slot {
        Slot {
            record: Arc::clone(&self.record),
            json: Arc::clone(&self.json),
        }
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |v, _| Value::Array(vec![v]))
    }

    #[test]
    fn the_bytes_are_serde_jsons_compact_ones() {
        let value = json!({"a": [1, {"b": "[[[{{{", "c": 25000.0}], "d": {}, "e": [], "f": null});
        let bytes = encode_json("x", &value, 0).unwrap();
        assert_eq!(bytes, serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn the_limit_is_exact_and_wrapping_is_not_counted() {
        assert!(encode_json("a", &nested(MAX_JSON_DEPTH), 0).is_ok());
        let over = nested(MAX_JSON_DEPTH + 1);
        let err = encode_json("o", &over, 0).unwrap_err();
        assert!(matches!(
            err,
            StoreError::TooDeep {
                depth: 101,
                limit: 100,
                ..
            }
        ));
        assert!(encode_json("o", &over, 1).is_ok());
        // Many shallow siblings are not depth.
        let wide = json!({"xs": vec![json!({"x": [[{}]]}); 500]});
        assert!(encode_json("w", &wide, 0).is_ok());
    }

    #[test]
    fn a_value_deeper_than_the_stack_could_serialize_is_refused() {
        // Serializing this with serde_json alone would overflow the stack.
        let mut value = json!(1);
        for _ in 0..200_000 {
            value = Value::Array(vec![value]);
        }
        let err = encode_json("deep", &value, 0).unwrap_err();
        assert!(matches!(err, StoreError::TooDeep { .. }), "{err}");
        // Taken apart one level at a time: dropping it whole would recurse as deep.
        while let Value::Array(mut items) = value {
            value = items.pop().unwrap_or(Value::Null);
        }
    }
}
