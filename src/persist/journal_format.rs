//! The journal's format: one JSON object per line, tagged by `op`. Every line the store
//! writes is made by one of the encoders here (one per operation), and read back as an
//! [`Op`]; the tests below hold each encoder to parse back to what it wrote.
//!
//! ```text
//! {"op":"put","version":7,"record":{…}}
//! {"op":"del","user_id":"u","agent_id":"a","ids":["s1","s2"]}
//! {"op":"msg","user_id":"u","agent_id":"a","session_id":"s1","index":0,"message":{…}}
//! {"op":"ctx","user_id":"u","agent_id":"a","session_id":"s1","base":7,"version":9,"updated_at":"…","messages":[{…}]}
//! {"op":"agent_put","record":{…}}
//! {"op":"agent_del","user_id":"u","ids":["a1"]}
//! ```
//!
//! Records and messages arrive already encoded (their bytes are made outside every lock, and
//! a session's are the cached ones), so the encoders write their bytes as they are.
//!
//! Two file layouts, told apart by the first line:
//!
//! - **Versions 3 (written now) and 2**: a header line, `{"format":"agent-sessions/journal","version":3}`,
//!   then the lines, then zero bytes up to the file's length. Version 3 may hold `ctx` lines;
//!   version 2 does not, and is continued in a new file of version 3. The file is zero-filled ahead of
//!   the lines (see `journal.rs`), so appending a line changes no metadata. The log ends at the
//!   first zero byte where a line would start; everything after it must be zero. A line cut
//!   short (no newline before the zeros or the end of the file) is a torn tail.
//! - **Version 1** (no header; written before): the lines, and nothing after the last one.
//!
//! JSON lines never hold a raw zero byte (`serde_json` escapes control characters), so a zero
//! inside a line can only be padding the line never reached.
//!
//! Trade-off: a power loss during a group's fsync may leave that group's pages on disk out of
//! order (a later page written, an earlier one still zeros). The group was not acknowledged,
//! but its non-zero bytes after zeros read as damage, and `open` refuses the file naming the
//! line, as it refuses any other damage; a version-1 journal could not show this, its size
//! being committed only after its data.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::files::io_error;
use super::format::{corrupt_at, reason};
use crate::model::{AgentRecord, Msg, SessionRecord};
use crate::StoreError;

/// One journal line, as read back.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Op {
    /// The session, in full, as it now is.
    Put {
        version: u64,
        record: Box<SessionRecord>,
    },
    /// These sessions of (user, agent) are gone, with their messages.
    Del {
        user_id: String,
        agent_id: String,
        ids: Vec<String>,
    },
    /// Message `index` of a session's history is this, and the history ends with it.
    Msg {
        user_id: String,
        agent_id: String,
        session_id: String,
        index: usize,
        message: Box<Msg>,
    },
    /// Messages appended to a session's `state.context` (`SessionStore::append_context`):
    /// version `base` became `version`, with `updated_at` (as the record writes it). The
    /// record is not repeated, so an append's line does not grow with the context. Replayed
    /// only over version `base`; a session already at `version` or later (a snapshot taken
    /// after the line was written) is left as it is.
    Ctx {
        user_id: String,
        agent_id: String,
        session_id: String,
        base: u64,
        version: u64,
        updated_at: String,
        messages: Vec<Msg>,
    },
    /// The registered agent, in full, as it now is.
    AgentPut { record: Box<AgentRecord> },
    /// These agents of a user are no longer registered.
    AgentDel { user_id: String, ids: Vec<String> },
}

/// The `put` line of a session at `version`, from the record's compact JSON.
pub(crate) fn put_line(version: u64, record_json: &[u8]) -> Vec<u8> {
    Line::new("put")
        .number("version", version)
        .raw("record", record_json)
        .end()
}

/// The `del` line of sessions `ids` of (user, agent).
pub(crate) fn del_line<'a>(
    user_id: &str,
    agent_id: &str,
    ids: impl IntoIterator<Item = &'a str>,
) -> Vec<u8> {
    Line::new("del")
        .string("user_id", user_id)
        .string("agent_id", agent_id)
        .strings("ids", ids)
        .end()
}

/// The `msg` line of message `index` of a session's history, from the message's JSON.
pub(crate) fn msg_line(
    user_id: &str,
    agent_id: &str,
    session_id: &str,
    index: usize,
    message_json: &[u8],
) -> Vec<u8> {
    Line::new("msg")
        .string("user_id", user_id)
        .string("agent_id", agent_id)
        .string("session_id", session_id)
        .number("index", index as u64)
        .raw("message", message_json)
        .end()
}

/// The `ctx` line of messages appended to a session's `state.context`, from each message's
/// JSON; `updated_at` as the record writes it.
pub(crate) fn ctx_line(
    (user_id, agent_id, session_id): (&str, &str, &str),
    (base, version): (u64, u64),
    updated_at: &str,
    messages_json: &[Vec<u8>],
) -> Vec<u8> {
    Line::new("ctx")
        .string("user_id", user_id)
        .string("agent_id", agent_id)
        .string("session_id", session_id)
        .number("base", base)
        .number("version", version)
        .string("updated_at", updated_at)
        .raw_list("messages", messages_json)
        .end()
}

/// The `agent_put` line of a registered agent, from the record's JSON.
pub(crate) fn agent_put_line(record_json: &[u8]) -> Vec<u8> {
    Line::new("agent_put").raw("record", record_json).end()
}

/// The `agent_del` line of agents `ids` of a user.
pub(crate) fn agent_del_line<'a>(user_id: &str, ids: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    Line::new("agent_del")
        .string("user_id", user_id)
        .strings("ids", ids)
        .end()
}

/// A line being written: `{"op":"…"`, then one `,"key":value` per field, then `}` and the
/// newline. Keys are the encoders' own (plain ASCII); strings are escaped by `serde_json`.
struct Line(Vec<u8>);

impl Line {
    fn new(op: &str) -> Self {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"op\":\"");
        out.extend_from_slice(op.as_bytes());
        out.push(b'"');
        Self(out)
    }

    fn key(&mut self, key: &str) {
        self.0.extend_from_slice(b",\"");
        self.0.extend_from_slice(key.as_bytes());
        self.0.extend_from_slice(b"\":");
    }

    fn push_str(&mut self, value: &str) {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    fn string(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        self.push_str(value);
        self
    }

    fn strings<'a>(mut self, key: &str, values: impl IntoIterator<Item = &'a str>) -> Self {
        self.key(key);
        self.0.push(b'[');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            self.push_str(value);
        }
        self.0.push(b']');
        self
    }

    fn number(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        self.0.extend_from_slice(value.to_string().as_bytes());
        self
    }

    /// A value already encoded as JSON.
    fn raw(mut self, key: &str, json: &[u8]) -> Self {
        self.key(key);
        self.0.extend_from_slice(json);
        self
    }

    /// A list of values already encoded as JSON.
    fn raw_list(mut self, key: &str, items: &[Vec<u8>]) -> Self {
        self.key(key);
        self.0.push(b'[');
        for (i, json) in items.iter().enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            self.0.extend_from_slice(json);
        }
        self.0.push(b']');
        self
    }

    fn end(mut self) -> Vec<u8> {
        self.0.extend_from_slice(b"}\n");
        self.0
    }
}

/// The journal version this crate writes (see the module's docs); it reads 1, 2 and 3.
/// Version 3 has version 2's layout and may hold `ctx` lines, which a reader of version 2
/// would refuse in the middle of a file, or drop as a torn line at its end: the version
/// makes it refuse the file whole, changing nothing.
pub(crate) const JOURNAL_VERSION: u64 = 3;
/// The versions with a header line (and zero padding) this crate reads.
const HEADED_VERSIONS: [u64; 2] = [2, 3];
const JOURNAL_FORMAT: &str = "agent-sessions/journal";

/// The first line of a journal file this crate writes.
pub(crate) fn header_line() -> Vec<u8> {
    format!("{{\"format\":\"{JOURNAL_FORMAT}\",\"version\":{JOURNAL_VERSION}}}\n").into_bytes()
}

/// The name of journal number `n`.
pub(crate) fn file_name(n: u64) -> String {
    format!("journal-{n:016}.jsonl")
}

/// The number of a journal file name, if it is one.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("journal-")?.strip_suffix(".jsonl")?;
    if digits.len() != 16 {
        return None;
    }
    digits.parse().ok()
}

/// The journal files of `dir` numbered `first` or later, in order.
pub(crate) fn journal_files(dir: &Path, first: u64) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        if let Some(n) = name.to_str().and_then(parse_file_name) {
            if n >= first {
                found.push((n, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// One journal file's lines, parsed; a torn last line is returned apart.
pub(crate) struct JournalContents {
    pub(crate) ops: Vec<Op>,
    /// (line number, byte offset where it starts, its length) of a torn last line; its length
    /// counts its bytes up to the padding (version 2) or the end of the file.
    pub(crate) torn: Option<(usize, usize, usize)>,
    /// The file's layout: 1 (no header, no padding) or 2.
    pub(crate) version: u64,
    /// Where the log ends: the byte after its last complete line.
    pub(crate) end: usize,
}

/// Reads a journal file of either version. A last line without its newline, or that does not
/// parse, is torn (allowed only where `may_be_torn`); damage anywhere else is `Corrupt`, and
/// so is a non-zero byte after a version-2 log's end.
pub(crate) fn read_journal(path: &Path, may_be_torn: bool) -> Result<JournalContents, StoreError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let (version, mut start) = read_header(path, &bytes)?;
    let padded = version >= 2;
    let mut ops = Vec::new();
    let mut line_no = usize::from(start > 0);
    let contents = |ops, torn, end| JournalContents {
        ops,
        torn,
        version,
        end,
    };
    while start < bytes.len() {
        if padded && bytes[start] == 0 {
            // The end of the log: only padding may follow.
            check_zeros(path, &bytes, start, line_no + 1)?;
            return Ok(contents(ops, None, start));
        }
        line_no += 1;
        // A line stops at its newline; in version 2, also where the padding begins.
        let stop = bytes[start..]
            .iter()
            .position(|&b| b == b'\n' || (padded && b == 0))
            .map(|i| start + i);
        let newline = stop.filter(|&e| bytes[e] == b'\n');
        let line_end = stop.unwrap_or(bytes.len());
        let next = newline.map_or(line_end, |e| e + 1);
        let parsed = newline.map(|_| serde_json::from_slice::<Op>(&bytes[start..line_end]));
        if let Some(Ok(op)) = parsed {
            ops.push(op);
            start = next;
            continue;
        }
        // Torn or damaged: torn only if nothing but padding follows.
        let is_last = bytes[next..].iter().all(|&b| b == 0) && (padded || next == bytes.len());
        if is_last && may_be_torn {
            return Ok(contents(ops, Some((line_no, start, next - start)), start));
        }
        return Err(match parsed {
            Some(Err(e)) => corrupt_at(path, line_no, e.column(), reason(&e)),
            _ if is_last => corrupt_at(
                path,
                line_no,
                line_end - start + 1,
                "the line has no end, but a later journal exists".to_owned(),
            ),
            _ => corrupt_at(
                path,
                line_no,
                line_end - start + 1,
                "the line is cut short by zero bytes, and non-zero bytes follow them".to_owned(),
            ),
        });
    }
    Ok(contents(ops, None, bytes.len()))
}

/// The version of a journal file and where its lines start: a file of version 2 or 3
/// starts with its header line; anything else is version 1, lines from the first byte (a header cut short
/// by a crash is read as a version-1 torn line, which it is: no line follows an unsynced
/// header).
fn read_header(path: &Path, bytes: &[u8]) -> Result<(u64, usize), StoreError> {
    #[derive(Deserialize)]
    struct Header {
        format: String,
        version: u64,
    }
    if !bytes.starts_with(b"{\"format\":") {
        return Ok((1, 0));
    }
    let Some(newline) = bytes.iter().position(|&b| b == b'\n') else {
        return Ok((1, 0));
    };
    let header: Header = serde_json::from_slice(&bytes[..newline])
        .map_err(|e| corrupt_at(path, 1, e.column(), reason(&e)))?;
    if header.format != JOURNAL_FORMAT {
        return Err(corrupt_at(
            path,
            1,
            1,
            format!("its format is {:?}, not {JOURNAL_FORMAT:?}", header.format),
        ));
    }
    if !HEADED_VERSIONS.contains(&header.version) {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: header.version,
            supported: JOURNAL_VERSION,
        });
    }
    Ok((header.version, newline + 1))
}

/// Fails unless every byte from `end` on is zero (the padding after a version-2 log).
fn check_zeros(path: &Path, bytes: &[u8], end: usize, line_no: usize) -> Result<(), StoreError> {
    match bytes[end..].iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(i) => Err(corrupt_at(
            path,
            line_no,
            1,
            format!(
                "byte {} is not zero, but the log ended at byte {end} (a zero byte where a line \
                 would start)",
                end + i
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContentBlock, Object, Role};

    /// Parses one line, which must end with the only newline.
    fn parse(line: &[u8]) -> Op {
        assert_eq!(line.iter().position(|&b| b == b'\n'), Some(line.len() - 1));
        serde_json::from_slice(line).unwrap()
    }

    /// Ids that need escaping, to hold the encoders to `serde_json`'s escaping.
    const USER: &str = "u \"quoted\" \\ é\n";
    const AGENT: &str = "a/1\t";

    fn record() -> SessionRecord {
        serde_json::from_value(serde_json::json!({
            "id": "s\"1", "user_id": USER, "agent_id": AGENT,
            "config": {"workspace_id": "w", "name": "n"}, "team_id": "t",
        }))
        .unwrap()
    }

    #[test]
    fn put_parses_back() {
        let rec = record();
        let line = put_line(7, &serde_json::to_vec(&rec).unwrap());
        let expected = Op::Put {
            version: 7,
            record: Box::new(rec),
        };
        assert_eq!(parse(&line), expected);
    }

    #[test]
    fn del_parses_back() {
        let line = del_line(USER, AGENT, ["s1", "s\"2"]);
        let expected = Op::Del {
            user_id: USER.into(),
            agent_id: AGENT.into(),
            ids: vec!["s1".into(), "s\"2".into()],
        };
        assert_eq!(parse(&line), expected);
        let none = del_line(USER, AGENT, []);
        assert!(matches!(parse(&none), Op::Del { ids, .. } if ids.is_empty()));
    }

    #[test]
    fn msg_parses_back() {
        let message = Msg::new("user", Role::User, vec![ContentBlock::text("hi \"there\"")]);
        let line = msg_line(
            USER,
            AGENT,
            "s\\1",
            usize::MAX,
            &serde_json::to_vec(&message).unwrap(),
        );
        let expected = Op::Msg {
            user_id: USER.into(),
            agent_id: AGENT.into(),
            session_id: "s\\1".into(),
            index: usize::MAX,
            message: Box::new(message),
        };
        assert_eq!(parse(&line), expected);
    }

    #[test]
    fn ctx_parses_back() {
        let first = Msg::new("user", Role::User, vec![ContentBlock::text("hi \"there\"")]);
        let second = Msg::new("bot", Role::Assistant, vec![ContentBlock::text("é\n")]);
        let json: Vec<Vec<u8>> = [&first, &second]
            .iter()
            .map(|m| serde_json::to_vec(m).unwrap())
            .collect();
        let at = "2026-01-02T03:04:05.123456Z";
        let line = ctx_line((USER, AGENT, "s\\1"), (3, u64::MAX), at, &json);
        let expected = Op::Ctx {
            user_id: USER.into(),
            agent_id: AGENT.into(),
            session_id: "s\\1".into(),
            base: 3,
            version: u64::MAX,
            updated_at: at.into(),
            messages: vec![first, second],
        };
        assert_eq!(parse(&line), expected);
        let none = ctx_line((USER, AGENT, "s"), (1, 2), at, &[]);
        assert!(matches!(parse(&none), Op::Ctx { messages, .. } if messages.is_empty()));
    }

    #[test]
    fn agent_put_parses_back() {
        let mut data = Object::new();
        data.insert("name".into(), "bot \"b\"".into());
        let agent = AgentRecord::new(USER, data);
        let line = agent_put_line(&serde_json::to_vec(&agent).unwrap());
        let expected = Op::AgentPut {
            record: Box::new(agent),
        };
        assert_eq!(parse(&line), expected);
    }

    #[test]
    fn agent_del_parses_back() {
        let line = agent_del_line(USER, ["a1", AGENT]);
        let expected = Op::AgentDel {
            user_id: USER.into(),
            ids: vec!["a1".into(), AGENT.into()],
        };
        assert_eq!(parse(&line), expected);
    }

    #[test]
    fn file_names_parse_back() {
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        assert_eq!(parse_file_name("journal-42.jsonl"), None);
        assert_eq!(parse_file_name("shard-0000-0000000000000001.json"), None);
    }
}
