//! The session record and its configuration.

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::extra::Extra;
use super::ids::new_id;
use super::open_enum::open_enum;
use super::state::AgentState;
use super::timestamp::{self, TimestampFormat, Written};
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

/// A stored session, field for field as AgentScope writes it: the 2.0.0 shape, or the 2.0.11
/// one, each kept as it came.
///
/// The record's own keys decide its shape:
/// - **2.0.0** (no `origin`): written `id, updated_at, created_at, user_id, agent_id, source,
///   source_schedule_id, config, state`, then any fields this version does not know. A record
///   read without `source` gets `user`, as the reference does.
/// - **2.0.11** (an `origin` object, kept in [`SessionRecord::extra`]): `origin` and
///   `team_id` are written where `source` and `source_schedule_id` would be, and those two
///   are not written. They still mirror the origin for readers and list filters (`source` is
///   `origin.type`, `source_schedule_id` its `schedule_id`), but `origin` is what is kept.
///
/// [`AgentState`] and [`SessionConfig`] decide their own shapes the same way
/// (`reply_context`, `naming`), so a 2.0.11 record read and written back is the same JSON:
/// no field added, none minted, none dropped. [`SessionRecord::to_agentscope_2_0_11`]
/// converts a 2.0.0 record as 2.0.11 reads one.
///
/// Timestamps are written in the record's [`SessionRecord::timestamp_format`]: RFC 3339 UTC
/// with `Z` by default; a store sets it to its own setting.
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
///
/// // A 2.0.11 record: origin instead of source, written back as it came.
/// let json = r#"{"id":"s","updated_at":"2026-12-02T00:19:39.369331","created_at":"2026-12-02T00:19:39","user_id":"u","agent_id":"a","origin":{"type":"schedule","schedule_id":"x"},"team_id":null,"config":{"workspace_id":"w","name":"n"},"state":{"session_id":"x","reply_context":{"reply_id":"r","cur_iter":2}}}"#;
/// let mut rec: SessionRecord = serde_json::from_str(json).unwrap();
/// assert_eq!(rec.source_schedule_id.as_deref(), Some("x"));
/// assert_eq!(rec.state.cur_iter, 2);
/// rec.timestamp_format = agent_sessions::model::TimestampFormat::Naive;
/// let out = serde_json::to_string(&rec).unwrap();
/// assert!(out.starts_with(&json[..json.find(r#","config""#).unwrap()])); // in order, as read
/// assert!(!out.contains("source") && !out.contains(r#""reply_id":"r","cur_iter":2,"#));
/// assert!(out.contains(r#""reply_context":{"reply_id":"r","cur_iter":2}"#));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    /// The session id (uuid4 hex by default); unique within its (user, agent).
    pub id: String,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The owner.
    pub user_id: String,
    /// The agent it belongs to.
    pub agent_id: String,
    /// What created it (2.0.11 records: their `origin.type`).
    pub source: SessionSource,
    /// The schedule that created it, or `None` (2.0.11 records: their `origin.schedule_id`).
    pub source_schedule_id: Option<String>,
    /// Name, workspace and chat model.
    pub config: SessionConfig,
    /// The agent's saved state.
    pub state: AgentState,
    /// Fields this version does not know (`origin`, `team_id`, ...); kept verbatim.
    pub extra: Extra,
    /// How `created_at` and `updated_at` are written; not a field of the JSON. Read records
    /// get the default (RFC 3339 with `Z`); a store sets its own setting on what it keeps.
    pub timestamp_format: TimestampFormat,
    /// Whether the record has 2.0.11's shape (see [`SessionRecord::is_agentscope_2_0_11`]).
    v2_0_11: bool,
}

/// The record as read, before its shape is settled.
#[derive(Deserialize)]
struct RecordWire {
    #[serde(default = "new_id")]
    id: String,
    #[serde(with = "timestamp", default = "timestamp::now")]
    updated_at: DateTime<Utc>,
    #[serde(with = "timestamp", default = "timestamp::now")]
    created_at: DateTime<Utc>,
    user_id: String,
    agent_id: String,
    #[serde(default)]
    source: Option<SessionSource>,
    #[serde(default)]
    source_schedule_id: Option<String>,
    config: SessionConfig,
    #[serde(default)]
    state: AgentState,
    #[serde(flatten)]
    extra: Extra,
}

impl<'de> Deserialize<'de> for SessionRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = RecordWire::deserialize(d)?;
        let origin = w.extra.get("origin").and_then(Value::as_object);
        let v2_0_11 = origin.is_some() && w.source.is_none() && w.source_schedule_id.is_none();
        let source = w.source.unwrap_or_else(|| {
            origin
                .and_then(|o| o.get("type"))
                .and_then(Value::as_str)
                .map_or(SessionSource::User, SessionSource::from)
        });
        let source_schedule_id = w.source_schedule_id.or_else(|| {
            origin
                .and_then(|o| o.get("schedule_id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        Ok(Self {
            id: w.id,
            updated_at: w.updated_at,
            created_at: w.created_at,
            user_id: w.user_id,
            agent_id: w.agent_id,
            source,
            source_schedule_id,
            config: w.config,
            state: w.state,
            extra: w.extra,
            timestamp_format: TimestampFormat::default(),
            v2_0_11,
        })
    }
}

impl Serialize for SessionRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fmt = self.timestamp_format;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("updated_at", &Written(&self.updated_at, fmt))?;
        map.serialize_entry("created_at", &Written(&self.created_at, fmt))?;
        map.serialize_entry("user_id", &self.user_id)?;
        map.serialize_entry("agent_id", &self.agent_id)?;
        let in_place: &[&str] = if self.is_agentscope_2_0_11() {
            for key in ["origin", "team_id"] {
                if let Some(v) = self.extra.get(key) {
                    map.serialize_entry(key, v)?;
                }
            }
            &["origin", "team_id"]
        } else {
            map.serialize_entry("source", &self.source)?;
            map.serialize_entry("source_schedule_id", &self.source_schedule_id)?;
            &[]
        };
        map.serialize_entry("config", &self.config)?;
        map.serialize_entry("state", &self.state)?;
        for (k, v) in &self.extra {
            if !in_place.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// The `source_*` keys 2.0.11 folds into `origin` and drops.
const LEGACY_SOURCE_KEYS: [&str; 3] = ["source_channel_id", "source_chat_id", "source_chat_name"];

impl SessionRecord {
    /// A 2.0.0-shaped record of these parts (what a create makes).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        id: String,
        now: DateTime<Utc>,
        user_id: String,
        agent_id: String,
        source: SessionSource,
        source_schedule_id: Option<String>,
        config: SessionConfig,
        state: AgentState,
    ) -> Self {
        Self {
            id,
            updated_at: now,
            created_at: now,
            user_id,
            agent_id,
            source,
            source_schedule_id,
            config,
            state,
            extra: Extra::new(),
            timestamp_format: TimestampFormat::default(),
            v2_0_11: false,
        }
    }

    /// Whether the record has AgentScope 2.0.11's shape: it was read with an `origin` object
    /// and without `source` or `source_schedule_id`, or converted by
    /// [`SessionRecord::to_agentscope_2_0_11`]. A record read with both keeps both.
    ///
    /// ```
    /// use agent_sessions::model::SessionRecord;
    /// let rec: SessionRecord = serde_json::from_str(
    ///     r#"{"user_id":"u","agent_id":"a","config":{"workspace_id":"w"}}"#).unwrap();
    /// assert!(!rec.is_agentscope_2_0_11());
    /// assert!(rec.to_agentscope_2_0_11().is_agentscope_2_0_11());
    /// ```
    pub fn is_agentscope_2_0_11(&self) -> bool {
        self.v2_0_11 && self.extra.get("origin").is_some_and(Value::is_object)
    }

    /// The record as AgentScope 2.0.11 reads it; a 2.0.11 record is returned unchanged.
    ///
    /// A 2.0.0 record gets 2.0.11's defaults for what it lacks: `source` (and
    /// `source_schedule_id`) become `origin` as 2.0.11 folds them (`{"type":"user"}`,
    /// `{"type":"schedule","schedule_id":…}` when the id is there, a channel with its ids,
    /// `team`; anything else, a schedule without an id included, `user`), `team_id` is `null`; the config gets `naming: {"auto": false}`,
    /// `cwd`, `fallback_chat_model_config`, `tts_model_config`, `realtime_model_config` and
    /// `knowledge_config` as `null`; the state's `reply_id` and `cur_iter` move into
    /// `reply_context` (with `structured_schema` and `structured_output` `null`), and
    /// `middle_context` is `{}`. Fields unknown to both versions stay, after these.
    ///
    /// ```
    /// use agent_sessions::model::SessionRecord;
    /// let rec: SessionRecord = serde_json::from_str(
    ///     r#"{"user_id":"u","agent_id":"a","source":"schedule","source_schedule_id":"s-1",
    ///        "config":{"workspace_id":"w"},"state":{"reply_id":"r","cur_iter":3}}"#).unwrap();
    /// let v = serde_json::to_value(rec.to_agentscope_2_0_11()).unwrap();
    /// assert_eq!(v["origin"], serde_json::json!({"type": "schedule", "schedule_id": "s-1"}));
    /// assert!(v.get("source").is_none());
    /// assert_eq!(v["state"]["reply_context"]["cur_iter"], 3);
    /// assert!(v["state"].get("reply_id").is_none());
    /// ```
    #[must_use]
    pub fn to_agentscope_2_0_11(&self) -> SessionRecord {
        let mut out = self.clone();
        if !self.is_agentscope_2_0_11() {
            let legacy = |key: &str| self.extra.get(key).and_then(Value::as_str);
            let origin = match (self.source.as_str(), &self.source_schedule_id) {
                ("schedule", Some(id)) if !id.is_empty() => {
                    serde_json::json!({"type": "schedule", "schedule_id": id})
                }
                ("channel", _) => match (legacy("source_channel_id"), legacy("source_chat_id")) {
                    (Some(channel), Some(chat)) if !channel.is_empty() && !chat.is_empty() => {
                        serde_json::json!({
                            "type": "channel", "channel_id": channel, "chat_id": chat,
                            "chat_name": self.extra.get("source_chat_name").cloned().unwrap_or(Value::Null),
                            "channel_user_id": null,
                        })
                    }
                    _ => serde_json::json!({"type": "user"}),
                },
                (kind @ ("user" | "team"), _) => serde_json::json!({ "type": kind }),
                _ => serde_json::json!({"type": "user"}),
            };
            out.source = origin["type"]
                .as_str()
                .map_or(SessionSource::User, SessionSource::from);
            out.source_schedule_id = origin["schedule_id"].as_str().map(str::to_owned);
            let mut extra = Object::new();
            extra.insert("origin".into(), origin);
            extra.insert("team_id".into(), Value::Null);
            for (k, v) in &self.extra {
                if !LEGACY_SOURCE_KEYS.contains(&k.as_str()) {
                    extra.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            out.extra = Extra::from(extra);
            out.v2_0_11 = true;
        }
        out.config = self.config.to_agentscope_2_0_11();
        out.state = self.state.to_agentscope_2_0_11();
        out
    }
}

/// A session's configuration: set at creation, changed by PATCH.
///
/// 2.0.11's fields (`naming`, `cwd`, `fallback_chat_model_config`, `tts_model_config`,
/// `realtime_model_config`, `knowledge_config`) are kept in [`SessionConfig::extra`]; when
/// the config has `naming` (2.0.11 always writes it), `naming` and `cwd` are written before
/// `chat_model_config`, in 2.0.11's order.
///
/// ```
/// let c: agent_sessions::model::SessionConfig =
///     serde_json::from_str(r#"{"workspace_id":"ws","name":"n","chat_model_config":null}"#).unwrap();
/// assert!(c.chat_model_config.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
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

/// The config keys 2.0.11 writes before `chat_model_config`.
const BEFORE_CHAT_MODEL: [&str; 2] = ["naming", "cwd"];

/// The config keys 2.0.11 writes after `chat_model_config`.
const AFTER_CHAT_MODEL: [&str; 4] = [
    "fallback_chat_model_config",
    "tts_model_config",
    "realtime_model_config",
    "knowledge_config",
];

impl Serialize for SessionConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("workspace_id", &self.workspace_id)?;
        map.serialize_entry("name", &self.name)?;
        let in_place: &[&str] = if self.extra.contains_key("naming") {
            for key in BEFORE_CHAT_MODEL {
                if let Some(v) = self.extra.get(key) {
                    map.serialize_entry(key, v)?;
                }
            }
            &BEFORE_CHAT_MODEL
        } else {
            &[]
        };
        map.serialize_entry("chat_model_config", &self.chat_model_config)?;
        for (k, v) in &self.extra {
            if !in_place.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

impl SessionConfig {
    /// The config as AgentScope 2.0.11 reads it: `naming` (`{"auto": false}`), `cwd` and
    /// the other 2.0.11 fields (`null`) added where absent, in 2.0.11's order.
    ///
    /// ```
    /// let c: agent_sessions::model::SessionConfig =
    ///     serde_json::from_str(r#"{"workspace_id":"ws","name":"n"}"#).unwrap();
    /// assert_eq!(
    ///     serde_json::to_string(&c.to_agentscope_2_0_11()).unwrap(),
    ///     r#"{"workspace_id":"ws","name":"n","naming":{"auto":false},"cwd":null,"chat_model_config":null,"fallback_chat_model_config":null,"tts_model_config":null,"realtime_model_config":null,"knowledge_config":null}"#
    /// );
    /// ```
    #[must_use]
    pub fn to_agentscope_2_0_11(&self) -> SessionConfig {
        let mut out = self.clone();
        let mut extra = Object::new();
        for key in BEFORE_CHAT_MODEL.iter().chain(&AFTER_CHAT_MODEL) {
            let default = if *key == "naming" {
                serde_json::json!({"auto": false})
            } else {
                Value::Null
            };
            let v = self.extra.get(*key).cloned().unwrap_or(default);
            extra.insert((*key).to_owned(), v);
        }
        for (k, v) in &self.extra {
            extra.entry(k.clone()).or_insert_with(|| v.clone());
        }
        out.extra = Extra::from(extra);
        out
    }
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
