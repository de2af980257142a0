//! The session record and its configuration.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::extra::Extra;
use super::ids::new_id;
use super::open_enum::open_enum;
use super::state::AgentState;
use super::timestamp;
use super::Object;

open_enum! {
    /// What created a session. Newer servers add values (`channel`); they are kept.
    ///
    /// ```
    /// use agent_sessions::model::SessionSource;
    /// assert_eq!(SessionSource::default(), SessionSource::User);
    /// assert_eq!(SessionSource::from("channel").as_str(), "channel");
    /// ```
    SessionSource, default User {
        /// `user`: made by a user.
        User = "user",
        /// `schedule`: made by a scheduled job (`source_schedule_id` names it).
        Schedule = "schedule",
    }
}

/// A stored session, field for field as AgentScope 2.0.0 writes it.
///
/// Fields are written in the reference's order: `id, updated_at, created_at, user_id,
/// agent_id, source, source_schedule_id, config, state`, then any fields this version does not
/// know. Timestamps are written as RFC 3339 UTC with `Z` (see [`crate::model::format_timestamp`]).
///
/// ```
/// use agent_sessions::model::SessionRecord;
/// let json = r#"{"user_id":"u","agent_id":"a","config":{"workspace_id":"w","name":"n"},
///                "created_at":"2026-01-02T03:04:05.000006","team_id":"t-1"}"#;
/// let rec: SessionRecord = serde_json::from_str(json).unwrap();
/// assert_eq!(rec.id.len(), 32); // AgentScope's default: a fresh uuid4 hex
/// assert_eq!(rec.extra["team_id"], "t-1"); // unknown fields survive
/// let out = serde_json::to_value(&rec).unwrap();
/// assert_eq!(out["created_at"], "2026-01-02T03:04:05.000006Z");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session id (uuid4 hex by default); unique within its (user, agent).
    #[serde(default = "new_id")]
    pub id: String,
    /// When it last changed.
    #[serde(with = "timestamp", default = "timestamp::now")]
    pub updated_at: DateTime<Utc>,
    /// When it was created.
    #[serde(with = "timestamp", default = "timestamp::now")]
    pub created_at: DateTime<Utc>,
    /// The owner.
    pub user_id: String,
    /// The agent it belongs to.
    pub agent_id: String,
    /// What created it.
    #[serde(default)]
    pub source: SessionSource,
    /// The schedule that created it, or `None`.
    #[serde(default)]
    pub source_schedule_id: Option<String>,
    /// Name, workspace and chat model.
    pub config: SessionConfig,
    /// The agent's saved state.
    #[serde(default)]
    pub state: AgentState,
    /// Fields this version does not know (`team_id`, ...); kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A session's configuration: set at creation, changed by PATCH.
///
/// ```
/// let c: agent_sessions::model::SessionConfig =
///     serde_json::from_str(r#"{"workspace_id":"ws","name":"n","chat_model_config":null}"#).unwrap();
/// assert!(c.chat_model_config.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// The workspace.
    pub workspace_id: String,
    /// The display name (`YYYY-MM-DD HH:MM:SS` of creation by default).
    #[serde(default = "default_name")]
    pub name: String,
    /// The chat model, or `None`. Boxed: most sessions have none, and a `None` box takes 8
    /// bytes where an inline config would take 150.
    #[serde(default)]
    pub chat_model_config: Option<Box<ChatModelConfig>>,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The name of a session read without one: named as if created now (see
/// [`timestamp::default_session_name`]).
fn default_name() -> String {
    timestamp::default_session_name(&timestamp::now())
}

/// The chat model a session uses.
///
/// ```
/// let m: agent_sessions::model::ChatModelConfig = serde_json::from_str(
///     r#"{"type":"openai","credential_id":"c","model":"gpt-x","parameters":{"temperature":0.2}}"#,
/// ).unwrap();
/// assert_eq!(m.kind, "openai");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatModelConfig {
    /// The provider (`type` on the wire).
    #[serde(rename = "type")]
    pub kind: String,
    /// The credential to use.
    pub credential_id: String,
    /// The model name.
    pub model: String,
    /// Provider parameters, verbatim.
    pub parameters: Object,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}
