//! The one JSON encoder of stored values: compact `serde_json` bytes, with the depth limit
//! every backend keeps, counted while writing.

use std::cell::Cell;
use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::model::SessionRecord;
use crate::StoreError;

/// How deeply a record, message or agent may nest JSON arrays and objects. The files of a
/// durable store wrap each in a few more levels and must stay within what `serde_json` reads
/// back (128).
pub(crate) const MAX_JSON_DEPTH: usize = 100;

/// The level a session record adds around what a client sets (`config`).
const RECORD_WRAPPING: usize = 1;

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

/// A session's compact JSON, refused when deeper than [`MAX_JSON_DEPTH`] or larger than
/// `max_record_bytes`.
///
/// The limit counts from inside the record: what a client sets (a `chat_model_config` in a
/// request body nested up to [`MAX_JSON_DEPTH`] levels) sits one level deeper in the record,
/// under `config`, and is still stored.
pub(crate) fn encode_record(
    record: &SessionRecord,
    max_record_bytes: usize,
) -> Result<Vec<u8>, StoreError> {
    let json = encode_json(&record.id, record, RECORD_WRAPPING)?;
    if json.len() > max_record_bytes {
        return Err(StoreError::RecordTooLarge {
            id: record.id.clone(),
            size: json.len(),
            limit: max_record_bytes,
        });
    }
    Ok(json)
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
