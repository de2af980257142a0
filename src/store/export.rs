//! Single-file export and import: every session in one file shaped like the list answer.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::entry::Entry;
use super::partition::Partition;
use super::SessionStore;
use crate::model::SessionRecord;
use crate::persist::{corrupt, io_error, split_path, write_atomic};
use crate::{ListSessionsResponse, StoreError};

impl SessionStore {
    /// Writes every session into one JSON file shaped exactly like the list answer,
    /// `{"sessions":[...],"total":n}`, atomically; returns how many sessions it holds. Sessions
    /// are grouped by user and agent (in byte order), oldest first.
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionStore};
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = dir.path().join("export.json");
    /// let store = SessionStore::new();
    /// store.create(NewSession::new("u", "a"))?;
    /// assert_eq!(store.export_json(&file)?, 1);
    /// let copy = SessionStore::new();
    /// assert_eq!(copy.import_json(&file)?, 1);
    /// assert_eq!(copy.len(), 1);
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn export_json(&self, path: impl AsRef<Path>) -> Result<usize, StoreError> {
        let path = path.as_ref();
        let mut scopes: Vec<(String, String, Arc<Partition>)> = Vec::new();
        for agents in &self.inner.users {
            for (agent, part) in agents.iter() {
                scopes.push((
                    agents.key().to_string(),
                    agent.to_string(),
                    Arc::clone(part),
                ));
            }
        }
        scopes.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let entries: Vec<Arc<Entry>> = scopes
            .iter()
            .flat_map(|(_, _, p)| p.data.read().entries().cloned().collect::<Vec<_>>())
            .collect();
        let mut out =
            Vec::with_capacity(entries.iter().map(|e| e.json.len() + 2).sum::<usize>() + 64);
        out.extend_from_slice(b"{\"sessions\":[");
        for (i, e) in entries.iter().enumerate() {
            out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
            out.extend_from_slice(&e.json);
        }
        out.extend_from_slice(b"\n],\"total\":");
        out.extend_from_slice(entries.len().to_string().as_bytes());
        out.extend_from_slice(b"}\n");
        let (dir, name) = split_path(path)?;
        write_atomic(&dir, &name, &out)?;
        Ok(entries.len())
    }

    /// Inserts every session of a file shaped like the list answer,
    /// `{"sessions":[...],"total":n}` (an export, or an answer captured from AgentScope);
    /// returns how many. All or nothing: a damaged file, a bad record or an id the store (or
    /// the file) already has fails the import and inserts nothing.
    pub fn import_json(&self, path: impl AsRef<Path>) -> Result<usize, StoreError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(io_error(path))?;
        let answer: ListSessionsResponse =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(path, &e))?;
        let records: Vec<SessionRecord> = answer
            .sessions
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect();
        self.insert_all(records)
    }

    /// Inserts every record or none.
    pub(crate) fn insert_all(&self, records: Vec<SessionRecord>) -> Result<usize, StoreError> {
        let mut seen = HashSet::new();
        for r in &records {
            self.check_ids(&r.user_id, &r.agent_id, &r.id)?;
            let key = (r.user_id.as_str(), r.agent_id.as_str(), r.id.as_str());
            if !seen.insert(key) || self.get(key.0, key.1, key.2).is_some() {
                return Err(StoreError::DuplicateId {
                    user_id: r.user_id.clone(),
                    agent_id: r.agent_id.clone(),
                    id: r.id.clone(),
                });
            }
        }
        let mut done: Vec<(String, String, String)> = Vec::with_capacity(records.len());
        for r in records {
            let key = (r.user_id.clone(), r.agent_id.clone(), r.id.clone());
            if let Err(e) = self.insert(r) {
                for (u, a, id) in &done {
                    let _ = self.delete(u, a, id);
                }
                return Err(e);
            }
            done.push(key);
        }
        Ok(done.len())
    }
}
