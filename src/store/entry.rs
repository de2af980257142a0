//! One stored version of a session: the record, its cached JSON and its version.

use std::sync::Arc;

use super::partition::Slot;
use crate::model::SessionRecord;
use crate::StoreError;

/// A key of the partition's ordered indexes: a timestamp in microseconds, ties by id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SortKey {
    pub(crate) micros: i64,
    pub(crate) id: Arc<str>,
}

/// An immutable version of one session. Writers replace the whole `Arc<Entry>`; readers never
/// see a half-applied change.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The session id, shared with the index keys.
    pub(crate) id: Arc<str>,
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
    // A document cannot nest deeper than it has `[` and `{` bytes; counting them is a fast,
    // vectorized pass, and only documents with more of them need the exact scan.
    let openers = json.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if openers <= MAX_JSON_DEPTH + wrapping {
        return Ok(());
    }
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
            id: Arc::from(record.id.as_str()),
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

    pub(crate) fn created_key(&self) -> SortKey {
        SortKey {
            micros: self.record.created_at.timestamp_micros(),
            id: Arc::clone(&self.id),
        }
    }

    pub(crate) fn updated_key(&self) -> SortKey {
        SortKey {
            micros: self.record.updated_at.timestamp_micros(),
            id: Arc::clone(&self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn depth_counts_nesting_not_brackets_in_strings_or_siblings() {
        assert_eq!(json_depth(br#"{"a":[1,{"b":"[[[{{{"}],"c":{}}"#), 3);
        assert_eq!(json_depth(br#"["\"[",[]]"#), 2);
        assert_eq!(json_depth(nested(7).as_bytes()), 7);
    }

    #[test]
    fn many_shallow_brackets_pass_the_exact_check() {
        // 300 sibling objects and brackets in strings: many openers, little depth.
        let wide = format!("[{}]", vec![r#"{"x":"[{[{"}"#; 300].join(","));
        assert!(check_depth("w", wide.as_bytes(), 0).is_ok());
    }

    #[test]
    fn the_limit_is_exact_and_wrapping_is_not_counted() {
        let at = nested(MAX_JSON_DEPTH);
        let over = nested(MAX_JSON_DEPTH + 1);
        assert!(check_depth("a", at.as_bytes(), 0).is_ok());
        let err = check_depth("o", over.as_bytes(), 0).unwrap_err();
        assert!(matches!(
            err,
            StoreError::TooDeep {
                depth: 101,
                limit: 100,
                ..
            }
        ));
        assert!(check_depth("o", over.as_bytes(), 1).is_ok());
        // Padding with shallow siblings does not hide the depth from the exact scan.
        let padded = format!("[{},{}]", vec!["{}"; 200].join(","), nested(MAX_JSON_DEPTH));
        assert!(check_depth("p", padded.as_bytes(), 0).is_err());
    }
}
