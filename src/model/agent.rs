//! The agent record of AgentScope's agent registry (`/agent/`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::extra::Extra;
use super::ids::new_id;
use super::timestamp;
use super::Object;

/// A registered agent, as AgentScope 2.0.0 writes it: `{id, updated_at, created_at, user_id,
/// data}`. `data` (name, system prompt, context and ReAct configuration) is kept verbatim.
///
/// ```
/// use agent_sessions::model::AgentRecord;
/// let a: AgentRecord = serde_json::from_str(
///     r#"{"id":"a1","user_id":"u","created_at":"2026-01-01T00:00:00","data":{"name":"bot"}}"#,
/// ).unwrap();
/// assert_eq!(a.name(), Some("bot"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// The agent id (uuid4 hex by default); unique within its user.
    #[serde(default = "new_id")]
    pub id: String,
    /// When it last changed.
    #[serde(with = "timestamp", default = "timestamp::now")]
    pub updated_at: DateTime<Utc>,
    /// When it was registered.
    #[serde(with = "timestamp", default = "timestamp::now")]
    pub created_at: DateTime<Utc>,
    /// The owner.
    pub user_id: String,
    /// The agent's configuration, verbatim.
    pub data: Object,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

impl AgentRecord {
    /// A new agent of `user_id` with this data, a fresh id, registered now.
    pub fn new(user_id: impl Into<String>, data: Object) -> Self {
        let now = timestamp::now();
        Self {
            id: new_id(),
            updated_at: now,
            created_at: now,
            user_id: user_id.into(),
            data,
            extra: Extra::new(),
        }
    }

    /// `data.name`, if it is a string.
    pub fn name(&self) -> Option<&str> {
        self.data.get("name").and_then(serde_json::Value::as_str)
    }
}
