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
    encode_within(id, value, MAX_JSON_DEPTH + wrapping)
}

/// The compact JSON of `value`, refused (as `TooDeep` past [`MAX_JSON_DEPTH`]) when it
/// nests more than `limit` levels.
fn encode_within<T: Serialize + ?Sized>(
    id: &str,
    value: &T,
    limit: usize,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(1024);
    let too_deep = Cell::new(false);
    let formatter = DepthLimit {
        depth: 0,
        limit,
        too_deep: &too_deep,
        marks: None,
    };
    let result = value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, formatter,
    ));
    encoded(id, result, &too_deep).map(|()| out)
}

/// The outcome of a serialization through [`DepthLimit`] as the store reports it: `TooDeep`
/// when the formatter stopped it for its depth, else `Encode` with serde's error.
fn encoded(
    id: &str,
    result: Result<(), serde_json::Error>,
    too_deep: &Cell<bool>,
) -> Result<(), StoreError> {
    match result {
        Ok(()) => Ok(()),
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

/// `serde_json`'s compact formatter, counting how deep it is and failing past `limit`; for a
/// record, it also notes where `updated_at` and `state.context` are (see [`Marks`]).
struct DepthLimit<'a, 'm> {
    depth: usize,
    limit: usize,
    /// Set when it failed for that reason.
    too_deep: &'a Cell<bool>,
    /// Present when encoding a record: what is noted of it.
    marks: Option<&'m mut MarkState<'a>>,
}

/// Where two spans of a record's compact JSON are, so that a change of `updated_at` and an
/// append to `state.context` can be spliced into the bytes instead of encoding the record
/// again (`store/splice.rs`). Offsets are in bytes from the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Marks {
    /// `updated_at`'s value, quotes included.
    pub(crate) updated_at: (u32, u32),
    /// The inside of `state.context`'s brackets: from after `[` to `]`.
    pub(crate) context: (u32, u32),
}

/// What the formatter tracks while writing a record.
struct MarkState<'a> {
    /// Bytes written so far (kept by [`Counting`]).
    written: &'a Cell<usize>,
    /// Between `begin_object_key` and `end_object_key`.
    in_key: bool,
    /// The key being written, while `in_key` and at depth 1 or 2.
    key: KeyBuf,
    /// The current key at depth 1.
    top: TopKey,
    /// Inside `state`, the current key (depth 2) is `context`.
    in_context: bool,
    updated_at: Option<(usize, usize)>,
    context: Option<(usize, usize)>,
    /// A tracked key was seen twice (an unknown field named like a known one): no marks.
    ambiguous: bool,
}

impl MarkState<'_> {
    fn pos(&self) -> usize {
        self.written.get()
    }

    fn marks(&self) -> Option<Marks> {
        if self.ambiguous {
            return None;
        }
        let span = |(a, b): (usize, usize)| Some((u32::try_from(a).ok()?, u32::try_from(b).ok()?));
        Some(Marks {
            updated_at: span(self.updated_at?)?,
            context: span(self.context?)?,
        })
    }
}

/// A key short enough to be one the marks need (at most 16 bytes; longer keys and keys
/// with escapes match none), kept without allocating.
#[derive(Default)]
struct KeyBuf {
    bytes: [u8; 16],
    len: usize,
    /// Longer than 16 bytes, or written with an escape.
    other: bool,
}

impl KeyBuf {
    fn clear(&mut self) {
        self.len = 0;
        self.other = false;
    }

    fn push(&mut self, part: &[u8]) {
        match self.bytes.get_mut(self.len..self.len + part.len()) {
            Some(room) => {
                room.copy_from_slice(part);
                self.len += part.len();
            }
            None => self.other = true,
        }
    }

    fn as_slice(&self) -> &[u8] {
        if self.other {
            b""
        } else {
            &self.bytes[..self.len]
        }
    }
}

/// The record's keys the marks need.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TopKey {
    UpdatedAt,
    State,
    Other,
}

/// A writer into a `Vec` that publishes how much it has written, for the formatter.
struct Counting<'a> {
    out: Vec<u8>,
    written: &'a Cell<usize>,
}

impl io::Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        self.written.set(self.out.len());
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(buf);
        self.written.set(self.out.len());
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl DepthLimit<'_, '_> {
    fn enter<W: ?Sized + io::Write>(&mut self, writer: &mut W, open: &[u8]) -> io::Result<()> {
        self.depth += 1;
        if self.depth > self.limit {
            self.too_deep.set(true);
            return Err(io::Error::other("nested too deep"));
        }
        writer.write_all(open)
    }
}

impl Formatter for DepthLimit<'_, '_> {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.enter(writer, b"[")?;
        if let Some(m) = &mut self.marks {
            if self.depth == 3 && m.top == TopKey::State && m.in_context && !m.in_key {
                if m.context.is_some() {
                    m.ambiguous = true;
                }
                m.context = Some((m.pos(), m.pos()));
            }
        }
        Ok(())
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        if let Some(m) = &mut self.marks {
            if self.depth == 3 && m.top == TopKey::State && m.in_context {
                if let Some(span) = &mut m.context {
                    span.1 = m.written.get();
                }
            }
        }
        self.depth -= 1;
        writer.write_all(b"]")
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.enter(writer, b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        if let Some(m) = &mut self.marks {
            match self.depth {
                1 => m.top = TopKey::Other,
                2 => m.in_context = false,
                _ => {}
            }
        }
        self.depth -= 1;
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if let Some(m) = &mut self.marks {
            m.in_key = true;
            m.key.clear();
        }
        if first {
            Ok(())
        } else {
            writer.write_all(b",")
        }
    }

    fn end_object_key<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        if let Some(m) = &mut self.marks {
            m.in_key = false;
            let key = m.key.as_slice();
            match self.depth {
                1 => {
                    m.top = match key {
                        b"updated_at" => TopKey::UpdatedAt,
                        b"state" => TopKey::State,
                        _ => TopKey::Other,
                    };
                    let seen = match m.top {
                        TopKey::UpdatedAt => m.updated_at.is_some(),
                        TopKey::State => m.context.is_some(),
                        TopKey::Other => false,
                    };
                    m.ambiguous |= seen;
                }
                2 if m.top == TopKey::State => m.in_context = key == b"context",
                _ => {}
            }
        }
        Ok(())
    }

    fn begin_string<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        if let Some(m) = &mut self.marks {
            if self.depth == 1 && m.top == TopKey::UpdatedAt && !m.in_key {
                m.updated_at = Some((m.pos(), m.pos()));
            }
        }
        writer.write_all(b"\"")
    }

    fn end_string<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b"\"")?;
        if let Some(m) = &mut self.marks {
            if self.depth == 1 && m.top == TopKey::UpdatedAt && !m.in_key {
                if let Some(span) = &mut m.updated_at {
                    span.1 = m.written.get();
                }
            }
        }
        Ok(())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if let Some(m) = &mut self.marks {
            if m.in_key && self.depth <= 2 {
                m.key.push(fragment.as_bytes());
            }
        }
        writer.write_all(fragment.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        if let Some(m) = &mut self.marks {
            if m.in_key {
                m.key.other = true; // no tracked key has an escape: this one matches none
            }
        }
        serde_json::ser::CompactFormatter.write_char_escape(writer, escape)
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
    encode_record_marked(record, max_record_bytes).map(|(json, _)| json)
}

/// [`encode_record`], with where `updated_at` and `state.context` are in the bytes (`None`
/// when that cannot be told for sure: an unknown field named like one of them).
pub(crate) fn encode_record_marked(
    record: &SessionRecord,
    max_record_bytes: usize,
) -> Result<(Vec<u8>, Option<Marks>), StoreError> {
    let written = Cell::new(0);
    let too_deep = Cell::new(false);
    let mut marks = MarkState {
        written: &written,
        in_key: false,
        key: KeyBuf::default(),
        top: TopKey::Other,
        in_context: false,
        updated_at: None,
        context: None,
        ambiguous: false,
    };
    let formatter = DepthLimit {
        depth: 0,
        limit: MAX_JSON_DEPTH + RECORD_WRAPPING,
        too_deep: &too_deep,
        marks: Some(&mut marks),
    };
    let mut out = Counting {
        out: Vec::with_capacity(1024),
        written: &written,
    };
    let result = record.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, formatter,
    ));
    let json = out.out;
    encoded(&record.id, result, &too_deep)?;
    check_record_size(&record.id, json.len(), max_record_bytes)?;
    Ok((json, marks.marks()))
}

/// Refuses a record's JSON of `size` bytes over `max_record_bytes`.
pub(crate) fn check_record_size(
    id: &str,
    size: usize,
    max_record_bytes: usize,
) -> Result<(), StoreError> {
    if size > max_record_bytes {
        return Err(StoreError::RecordTooLarge {
            id: id.to_owned(),
            size,
            limit: max_record_bytes,
        });
    }
    Ok(())
}

/// The compact JSON of a message as it sits in a record's `state.context`: refused when it
/// would nest the record deeper than [`MAX_JSON_DEPTH`] (the record, its state and the
/// context array are the three levels around it).
pub(crate) fn encode_context_message(message: &crate::model::Msg) -> Result<Vec<u8>, StoreError> {
    const AROUND: usize = 3;
    encode_within(
        &message.id,
        message,
        MAX_JSON_DEPTH + RECORD_WRAPPING - AROUND,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |v, _| Value::Array(vec![v]))
    }

    #[test]
    fn marks_point_at_updated_at_and_the_context() {
        let mut record: SessionRecord = serde_json::from_value(json!({
            "id": "s\"x", "user_id": "u", "agent_id": "a",
            "updated_at": "2026-01-02T03:04:05.000006Z",
            "config": {"workspace_id": "w", "context": [], "updated_at": "no"},
            "state": {"summary": [{"type": "text", "text": "]", "context": [1]}],
                      "context": [{"id": "m", "name": "n", "content": [{"type": "text", "text": "["}], "role": "user"}]},
            "a_key_longer_than_sixteen_bytes_updated_at": 1,
            "state\n": {"context": []},
        }))
        .unwrap();
        let (json, marks) = encode_record_marked(&record, usize::MAX).unwrap();
        assert_eq!(json, serde_json::to_vec(&record).unwrap());
        let marks = marks.unwrap();
        let at = |(a, b): (u32, u32)| &json[a as usize..b as usize];
        assert_eq!(at(marks.updated_at), b"\"2026-01-02T03:04:05.000006Z\"");
        let context = serde_json::to_vec(&record.state.context).unwrap();
        assert_eq!(at(marks.context), &context[1..context.len() - 1]);
        // Written twice (an unknown field set in code under a known name): no marks.
        record.extra.insert("updated_at".into(), json!("x"));
        assert_eq!(encode_record_marked(&record, usize::MAX).unwrap().1, None);
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
