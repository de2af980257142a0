//! The write-ahead journal: JSON lines of the changes made since the last snapshot.
//!
//! Lines are appended to an in-memory buffer under the changed partition's write lock, so the
//! journal's order is the order in which each partition changed. A writer then calls
//! [`Journal::commit`] with its line's sequence number, outside every store lock: whoever
//! takes the file lock first writes (and, under `Always`, fsyncs) every buffered line, so
//! concurrent writers share one fsync (group commit).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::files;
use crate::model::{AgentRecord, Msg, SessionRecord};
use crate::StoreError;

/// When the journal is fsynced.
///
/// Under every policy a write is in the operating system's hands before it returns, so it
/// survives the process being killed. What survives a power loss or an OS crash differs:
///
/// ```
/// use agent_sessions::FsyncPolicy;
/// use std::time::Duration;
/// assert_eq!(FsyncPolicy::default(), FsyncPolicy::Always);
/// let relaxed = FsyncPolicy::Every(Duration::from_millis(100));
/// # let _ = relaxed;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every write is on disk before it returns; concurrent writers share one fsync.
    #[default]
    Always,
    /// The journal is fsynced at this interval: a power loss may lose the last interval.
    Every(Duration),
    /// Never fsynced except at snapshots and close: a power loss may lose anything since the
    /// last snapshot.
    Never,
}

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
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
    /// The registered agent, in full, as it now is.
    AgentPut { record: Box<AgentRecord> },
    /// These agents of a user are no longer registered.
    AgentDel { user_id: String, ids: Vec<String> },
}

/// A journal line: `op` serialized, with its newline. Strings, numbers and records whose maps
/// have string keys always serialize, so this cannot fail.
pub(crate) fn line(op: &Op) -> Vec<u8> {
    let mut out = serde_json::to_vec(op).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The line of a `msg` op from its parts, the message already encoded (outside any lock).
pub(crate) fn msg_line(
    user_id: &str,
    agent_id: &str,
    session_id: &str,
    index: usize,
    message_json: &[u8],
) -> Vec<u8> {
    let head = serde_json::json!({
        "op": "msg",
        "user_id": user_id,
        "agent_id": agent_id,
        "session_id": session_id,
        "index": index,
    });
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    out.pop(); // the closing brace
    out.extend_from_slice(b",\"message\":");
    out.extend_from_slice(message_json);
    out.extend_from_slice(b"}\n");
    out
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

#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    /// The sequence number of the last line appended.
    seq: u64,
}

#[derive(Debug)]
struct FileState {
    file: File,
    path: PathBuf,
    number: u64,
    /// Lines up to this sequence number are in the file.
    written: u64,
    /// Lines up to this sequence number are fsynced.
    synced: u64,
    /// Set by the first failed write; every later commit fails.
    failed: Option<String>,
}

/// The journal of a durable store.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    policy: FsyncPolicy,
    /// Lock order: `file` before `pending`; `pending` may be taken under a partition lock.
    pending: Mutex<Pending>,
    file: Mutex<FileState>,
    /// Set with `FileState::failed`, readable without waiting for the file lock.
    poisoned: AtomicBool,
}

impl Journal {
    /// Opens journal number `number` in `dir` for appending.
    pub(crate) fn open(dir: &Path, number: u64, policy: FsyncPolicy) -> Result<Self, StoreError> {
        let path = dir.join(file_name(number));
        let file = files::open_append(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        files::sync_dir(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            policy,
            pending: Mutex::new(Pending {
                bytes: Vec::new(),
                seq: 0,
            }),
            file: Mutex::new(FileState {
                file,
                path,
                number,
                written: 0,
                synced: 0,
                failed: None,
            }),
            poisoned: AtomicBool::new(false),
        })
    }

    /// Fails with `Poisoned` once a journal write has failed.
    pub(crate) fn check_healthy(&self) -> Result<(), StoreError> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let reason = self.file.lock().failed.clone().unwrap_or_default();
        Err(StoreError::Poisoned { reason })
    }

    /// Appends a `put` line made of the record's cached JSON; returns its sequence number.
    pub(crate) fn append_put(&self, version: u64, record_json: &[u8]) -> u64 {
        let mut p = self.pending.lock();
        p.bytes.extend_from_slice(b"{\"op\":\"put\",\"version\":");
        p.bytes.extend_from_slice(version.to_string().as_bytes());
        p.bytes.extend_from_slice(b",\"record\":");
        p.bytes.extend_from_slice(record_json);
        p.bytes.extend_from_slice(b"}\n");
        p.seq += 1;
        p.seq
    }

    /// Appends a `del` line; returns its sequence number.
    pub(crate) fn append_del<'a>(
        &self,
        user_id: &str,
        agent_id: &str,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> u64 {
        self.append_line(&line(&Op::Del {
            user_id: user_id.to_owned(),
            agent_id: agent_id.to_owned(),
            ids: ids.into_iter().map(str::to_owned).collect(),
        }))
    }

    /// Appends a whole line (with its newline); returns its sequence number.
    pub(crate) fn append_line(&self, line: &[u8]) -> u64 {
        let mut p = self.pending.lock();
        p.bytes.extend_from_slice(line);
        p.seq += 1;
        p.seq
    }

    /// Returns once line `seq` is as durable as the policy promises (written; and fsynced
    /// under `Always`). Blocks on file I/O; call it with no store lock held.
    pub(crate) fn commit(&self, seq: u64) -> Result<(), StoreError> {
        let mut f = self.file.lock();
        let done = match self.policy {
            FsyncPolicy::Always => f.synced >= seq,
            _ => f.written >= seq,
        };
        if done {
            return Ok(());
        }
        self.flush_locked(&mut f, self.policy == FsyncPolicy::Always)
    }

    /// Writes every buffered line and fsyncs the journal.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        let mut f = self.file.lock();
        self.flush_locked(&mut f, true)
    }

    /// Ends the current journal file and starts number + 1; returns the new number. Every line
    /// appended before the call is in the old file, fsynced; every line after, in the new one.
    pub(crate) fn rotate(&self) -> Result<u64, StoreError> {
        let mut f = self.file.lock();
        self.flush_locked(&mut f, true)?;
        let number = f.number + 1;
        let path = self.dir.join(file_name(number));
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let file = files::open_append(&path).map_err(io)?;
        files::sync_dir(&self.dir).map_err(io)?;
        f.file = file;
        f.path = path;
        f.number = number;
        Ok(number)
    }

    fn flush_locked(&self, f: &mut FileState, fsync: bool) -> Result<(), StoreError> {
        if let Some(reason) = &f.failed {
            return Err(StoreError::Poisoned {
                reason: reason.clone(),
            });
        }
        let (bytes, upto) = {
            let mut p = self.pending.lock();
            (std::mem::take(&mut p.bytes), p.seq)
        };
        let result: io::Result<()> = (|| {
            if !bytes.is_empty() {
                f.file.write_all(&bytes)?;
            }
            f.written = upto;
            if fsync && f.synced < upto {
                f.file.sync_data()?;
                f.synced = upto;
            }
            Ok(())
        })();
        result.map_err(|source| {
            f.failed = Some(format!("{}: {source}", f.path.display()));
            self.poisoned.store(true, Ordering::Release);
            StoreError::Io {
                path: f.path.clone(),
                source,
            }
        })
    }
}
