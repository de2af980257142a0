//! The snapshot files: a manifest naming one file per shard, and the shard files.
//!
//! Both are JSON documents with a `format` name and a format `version`. A shard file holds one
//! session per line, so that a person can read and diff it:
//!
//! ```text
//! {"format":"agent-sessions/shard","version":1,"sessions":[
//! {"version":7,"record":{"id":"…","updated_at":"…",…}},
//! {"version":9,"record":{…}}
//! ]}
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{AgentRecord, Msg, SessionRecord};
use crate::StoreError;

/// The format version of the shard and agents files this crate writes and reads.
pub(crate) const FORMAT_VERSION: u64 = 1;
/// The manifest's version this crate writes: 2 since journals are zero-padded (journal format
/// 2, see `journal_format.rs`), so that a reader of version 1 refuses the directory instead of
/// misreading its journal. A manifest of version 1 is read as well: its journals are of
/// version 1, which the journal reader tells apart by their first line.
pub(crate) const MANIFEST_VERSION: u64 = 2;
/// The manifest versions this crate reads.
const MANIFEST_VERSIONS: &[u64] = &[1, 2];
pub(crate) const MANIFEST: &str = "manifest.json";
const MANIFEST_FORMAT: &str = "agent-sessions/manifest";
const SHARD_FORMAT: &str = "agent-sessions/shard";

/// `manifest.json`: what the current snapshot is made of.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: String,
    pub(crate) version: u64,
    /// The first journal to replay over the shards.
    pub(crate) journal: u64,
    /// The largest session version handed out when the snapshot began.
    pub(crate) last_version: u64,
    /// One entry per shard, by index.
    pub(crate) shards: Vec<ShardRef>,
    /// The file of registered agents, if any are.
    #[serde(default)]
    pub(crate) agents: Option<String>,
    /// The fingerprint of the encoder that wrote the shards' records (`fingerprint.rs`);
    /// absent in manifests written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) records: Option<u64>,
}

/// A shard's file in the manifest; `None` for a shard without sessions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ShardRef {
    pub(crate) file: Option<String>,
    pub(crate) sessions: usize,
    /// The file's checksum (`fingerprint::checksum`) as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) xxh3: Option<u64>,
}

impl Manifest {
    pub(crate) fn new(
        journal: u64,
        last_version: u64,
        shards: Vec<ShardRef>,
        agents: Option<String>,
        records: Option<u64>,
    ) -> Self {
        Self {
            format: MANIFEST_FORMAT.to_owned(),
            version: MANIFEST_VERSION,
            journal,
            last_version,
            shards,
            agents,
            records,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        // Plain strings and numbers always serialize.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<Self, StoreError> {
        let manifest: Manifest = decode_versioned(path, bytes, MANIFEST_FORMAT, MANIFEST_VERSIONS)?;
        Ok(manifest)
    }
}

/// The name of shard `index`'s file of generation `generation`.
pub(crate) fn shard_file_name(index: usize, generation: u64) -> String {
    format!("shard-{index:04}-{generation:016}.json")
}

const AGENTS_FORMAT: &str = "agent-sessions/agents";

/// The name of the agents file of generation `generation`.
pub(crate) fn agents_file_name(generation: u64) -> String {
    format!("agents-{generation:016}.json")
}

/// A snapshot file: `{"format":…,"version":…,"<list>":[`, each item on a line of its own
/// (written by `write_item`), then `]}`.
fn encode_file<T>(
    format: &str,
    list: &str,
    items: impl IntoIterator<Item = T>,
    mut write_item: impl FnMut(&mut Vec<u8>, T),
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"format\":\"");
    out.extend_from_slice(format.as_bytes());
    out.extend_from_slice(b"\",\"version\":");
    out.extend_from_slice(FORMAT_VERSION.to_string().as_bytes());
    out.extend_from_slice(b",\"");
    out.extend_from_slice(list.as_bytes());
    out.extend_from_slice(b"\":[");
    for (i, item) in items.into_iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        write_item(&mut out, item);
    }
    out.extend_from_slice(b"\n]}\n");
    out
}

/// Encodes the agents file, one agent per line.
pub(crate) fn encode_agents(agents: &[std::sync::Arc<AgentRecord>]) -> Vec<u8> {
    encode_file(AGENTS_FORMAT, "agents", agents, |out, a| {
        // Agent records are plain data with string map keys: they always serialize.
        out.extend_from_slice(&serde_json::to_vec(&**a).unwrap_or_default());
    })
}

/// Reads the agents file.
pub(crate) fn decode_agents(path: &Path, bytes: &[u8]) -> Result<Vec<AgentRecord>, StoreError> {
    #[derive(Deserialize)]
    struct AgentsFile {
        agents: Vec<AgentRecord>,
    }
    let file: AgentsFile = decode_versioned(path, bytes, AGENTS_FORMAT, &[FORMAT_VERSION])?;
    Ok(file.agents)
}

/// Whether `name` is a snapshot file's name: a shard file's or an agents file's.
pub(crate) fn is_snapshot_file_name(name: &Path) -> bool {
    let stem = name.file_name().and_then(|n| n.to_str());
    stem.is_some_and(|n| n.starts_with("shard-") || n.starts_with("agents-"))
        && name
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// A stored session with its version, as entries hand them to the encoder.
pub(crate) struct StoredRef<'a> {
    pub(crate) version: u64,
    /// The record's compact JSON.
    pub(crate) json: &'a [u8],
    /// Its message history, oldest first.
    pub(crate) messages: &'a [std::sync::Arc<Msg>],
}

/// Encodes a shard file from sessions' cached JSON.
pub(crate) fn encode_shard<'a>(sessions: impl ExactSizeIterator<Item = StoredRef<'a>>) -> Vec<u8> {
    encode_file(SHARD_FORMAT, "sessions", sessions, |out, s| {
        out.extend_from_slice(b"{\"version\":");
        out.extend_from_slice(s.version.to_string().as_bytes());
        out.extend_from_slice(b",\"record\":");
        out.extend_from_slice(s.json);
        if !s.messages.is_empty() {
            out.extend_from_slice(b",\"messages\":");
            // Messages are plain data with string map keys: they always serialize.
            out.extend_from_slice(&serde_json::to_vec(s.messages).unwrap_or_default());
        }
        out.push(b'}');
    })
}

/// A session read from a shard file.
#[derive(Debug, Deserialize)]
pub(crate) struct Stored {
    pub(crate) version: u64,
    pub(crate) record: SessionRecord,
    #[serde(default)]
    pub(crate) messages: Vec<Msg>,
}

/// A shard file; `format` and `version` are checked by `decode_versioned`.
#[derive(Deserialize)]
struct ShardFile {
    sessions: Vec<Stored>,
}

/// Reads a shard file.
pub(crate) fn decode_shard(path: &Path, bytes: &[u8]) -> Result<Vec<Stored>, StoreError> {
    let file: ShardFile = decode_versioned(path, bytes, SHARD_FORMAT, &[FORMAT_VERSION])?;
    Ok(file.sessions)
}

/// Reads a shard file as [`encode_shard`] writes it, with each record's exact bytes beside
/// it; `None` when the file is laid out in any other way, or does not parse (for
/// [`decode_shard`] to read, or to report).
///
/// One pass: each record is parsed where it stands and its end found by the parser, rather
/// than read as a raw value first and parsed from that.
pub(crate) fn decode_shard_keeping_bytes(bytes: &[u8]) -> Option<Vec<(Stored, &[u8])>> {
    let head =
        format!("{{\"format\":\"{SHARD_FORMAT}\",\"version\":{FORMAT_VERSION},\"sessions\":[");
    let mut rest = bytes.strip_prefix(head.as_bytes())?;
    let mut sessions = Vec::new();
    let mut separator: &[u8] = b"\n";
    loop {
        if let Some(after) = rest.strip_prefix(b"\n]}\n") {
            return after.is_empty().then_some(sessions);
        }
        rest = rest
            .strip_prefix(separator)?
            .strip_prefix(b"{\"version\":")?;
        separator = b",\n";
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let version = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
        rest = rest[digits..].strip_prefix(b",\"record\":")?;
        let (record, len) = one_value(rest)?;
        let json = &rest[..len];
        rest = &rest[len..];
        let messages = match rest.strip_prefix(b",\"messages\":") {
            Some(after) => {
                let (messages, len) = one_value(after)?;
                rest = &after[len..];
                messages
            }
            None => Vec::new(),
        };
        rest = rest.strip_prefix(b"}")?;
        let stored = Stored {
            version,
            record,
            messages,
        };
        sessions.push((stored, json));
    }
}

/// The JSON value at the start of `bytes`, and how many bytes it took.
fn one_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_slice(bytes).into_iter();
    let value = values.next()?.ok()?;
    Some((value, values.byte_offset()))
}

/// Decodes a document that has `format` and `version` fields: a version not in `versions` (the
/// last is the newest) is reported as such, whatever else the document holds.
fn decode_versioned<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    format: &str,
    versions: &[u64],
) -> Result<T, StoreError> {
    #[derive(Deserialize)]
    struct Header {
        format: String,
        version: u64,
    }
    // The common case in one pass: the document parses, and starts with the header this
    // crate writes (`encode_file`). Anything else reads the header on its own first, so that
    // an unknown format or version is reported as such.
    let typed: Result<T, _> = serde_json::from_slice(bytes);
    let prefix = format!("{{\"format\":\"{format}\",\"version\":{FORMAT_VERSION},");
    if typed.is_ok() && bytes.starts_with(prefix.as_bytes()) {
        return typed.map_err(|e| corrupt(path, &e));
    }
    let header: Result<Header, _> = serde_json::from_slice(bytes);
    if let Ok(h) = &header {
        if h.format != format {
            return Err(corrupt_at(
                path,
                1,
                1,
                format!("its format is {:?}, not {format:?}", h.format),
            ));
        }
        if !versions.contains(&h.version) {
            return Err(StoreError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: h.version,
                supported: versions.last().copied().unwrap_or(FORMAT_VERSION),
            });
        }
    }
    typed.map_err(|e| corrupt(path, &e))
}

/// A `Corrupt` error from a serde_json error.
pub(crate) fn corrupt(path: &Path, e: &serde_json::Error) -> StoreError {
    corrupt_at(path, e.line(), e.column(), reason(e))
}

/// What a serde_json error says, without its own position (` at line L column C`), which
/// counts from the start of what was parsed, not of the file: the `Corrupt` error says where.
pub(crate) fn reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => text[..i].to_owned(),
        _ => text,
    }
}

pub(crate) fn corrupt_at(path: &Path, line: usize, column: usize, reason: String) -> StoreError {
    StoreError::Corrupt {
        path: PathBuf::from(path),
        line,
        column,
        reason,
    }
}
