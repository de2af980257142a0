//! The agent state saved with a session.

use std::sync::Arc;

use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use super::default_box::DefaultBox;
use super::extra::Extra;
use super::ids::new_id;
use super::message::{Msg, TextOrBlocks};
use super::open_enum::open_enum;
use super::permission::PermissionContext;
use super::timestamp::now_naive_string;
use super::Object;

/// An agent's saved state: summary, context, permissions, tool cache and tasks.
///
/// `Default` gives AgentScope's defaults for a new session: fresh `session_id` and
/// `reply_id`, empty summary and context, tool context 100 files / 25000.0 bytes.
///
/// Two shapes, each kept as it came. AgentScope 2.0.0 writes `reply_id` and `cur_iter` at
/// the top (a state read without `reply_id` gets a fresh one, as 2.0.0 does). AgentScope
/// 2.0.11 writes them inside `reply_context` (kept in [`AgentState::extra`], written where
/// they would be): such a state mints nothing, writes no top-level `reply_id`/`cur_iter`,
/// and its `reply_id`/`cur_iter` fields mirror `reply_context`'s (a change to them is
/// written back into it).
///
/// ```
/// use agent_sessions::model::AgentState;
/// let s = AgentState::default();
/// assert_eq!(s.session_id.len(), 32);
/// assert_eq!(s.tool_context.max_cache_files, 100);
/// assert_eq!(serde_json::to_string(&s.tool_context.max_cache_bytes).unwrap(), "25000.0");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AgentState {
    /// The agent's own session id (not the record's `id`).
    pub session_id: String,
    /// A summary of what came before the context: a string or blocks.
    pub summary: TextOrBlocks,
    /// The messages in the agent's context, oldest first.
    ///
    /// Each message is an `Arc`, so that versions of a session share the messages they have
    /// in common: the private copy an update works on costs a reference count per message,
    /// not a copy of each. Push a message with `context.push(msg.into())`.
    pub context: Vec<Arc<Msg>>,
    /// The id of the reply in progress.
    pub reply_id: String,
    /// The reasoning-acting loop's current iteration.
    pub cur_iter: i64,
    /// Permissions. Usually the default, which takes no allocation (see [`DefaultBox`]).
    pub permission_context: DefaultBox<PermissionContext>,
    /// The tool cache.
    pub tool_context: ToolContext,
    /// Tasks. Usually none, which takes no allocation (see [`DefaultBox`]).
    pub tasks_context: DefaultBox<TaskContext>,
    /// Fields this version does not know (`reply_context`, `middle_context`, ...); kept verbatim.
    pub extra: Extra,
    /// Whether `reply_id` and `cur_iter` live in `reply_context` (2.0.11's shape): read so,
    /// without top-level `reply_id` and `cur_iter`, or converted.
    reply_in_context: bool,
}

impl Default for AgentState {
    fn default() -> Self {
        Self {
            session_id: new_id(),
            summary: TextOrBlocks::default(),
            context: Vec::new(),
            reply_id: new_id(),
            cur_iter: 0,
            permission_context: DefaultBox::default(),
            tool_context: ToolContext::default(),
            tasks_context: DefaultBox::default(),
            extra: Extra::new(),
            reply_in_context: false,
        }
    }
}

/// The state as read, before its shape is settled.
#[derive(Default, Deserialize)]
#[serde(default)]
struct StateWire {
    session_id: Option<String>,
    summary: TextOrBlocks,
    context: Vec<Arc<Msg>>,
    reply_id: Option<String>,
    cur_iter: Option<i64>,
    permission_context: DefaultBox<PermissionContext>,
    tool_context: ToolContext,
    tasks_context: DefaultBox<TaskContext>,
    #[serde(flatten)]
    extra: Extra,
}

impl<'de> Deserialize<'de> for AgentState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = StateWire::deserialize(d)?;
        let reply = w.extra.get("reply_context").and_then(Value::as_object);
        let reply_in_context = reply.is_some() && w.reply_id.is_none() && w.cur_iter.is_none();
        let reply = reply.filter(|_| reply_in_context);
        let reply_id = match (w.reply_id, reply) {
            (Some(id), _) => id,
            (None, Some(r)) => r
                .get("reply_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            (None, None) => new_id(),
        };
        let cur_iter = w
            .cur_iter
            .or_else(|| reply?.get("cur_iter")?.as_i64())
            .unwrap_or(0);
        Ok(Self {
            session_id: w.session_id.unwrap_or_else(new_id),
            summary: w.summary,
            context: w.context,
            reply_id,
            cur_iter,
            permission_context: w.permission_context,
            tool_context: w.tool_context,
            tasks_context: w.tasks_context,
            extra: w.extra,
            reply_in_context,
        })
    }
}

impl Serialize for AgentState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("session_id", &self.session_id)?;
        map.serialize_entry("summary", &self.summary)?;
        map.serialize_entry("context", &self.context)?;
        let reply = self
            .extra
            .get("reply_context")
            .and_then(Value::as_object)
            .filter(|_| self.reply_in_context);
        if let Some(reply) = reply {
            map.serialize_entry("reply_context", &self.reply_context(reply))?;
        } else {
            map.serialize_entry("reply_id", &self.reply_id)?;
            map.serialize_entry("cur_iter", &self.cur_iter)?;
        }
        map.serialize_entry("permission_context", &self.permission_context)?;
        map.serialize_entry("tool_context", &self.tool_context)?;
        map.serialize_entry("tasks_context", &self.tasks_context)?;
        for (k, v) in &self.extra {
            if reply.is_none() || k != "reply_context" {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

impl AgentState {
    /// `reply` with `reply_id` and `cur_iter` as this state has them: replaced where the
    /// object has them, added only where it lacks them and the value is not the empty one
    /// (so a state read without them is written back without them).
    fn reply_context<'a>(&self, reply: &'a Object) -> std::borrow::Cow<'a, Object> {
        let id_same = match reply.get("reply_id") {
            Some(v) => v.as_str() == Some(self.reply_id.as_str()),
            None => self.reply_id.is_empty(),
        };
        let iter_same = match reply.get("cur_iter") {
            Some(v) => v.as_i64() == Some(self.cur_iter),
            None => self.cur_iter == 0,
        };
        if id_same && iter_same {
            return std::borrow::Cow::Borrowed(reply);
        }
        let mut out = reply.clone();
        if !id_same {
            out.insert("reply_id".into(), Value::from(self.reply_id.as_str()));
        }
        if !iter_same {
            out.insert("cur_iter".into(), Value::from(self.cur_iter));
        }
        std::borrow::Cow::Owned(out)
    }

    /// The state as AgentScope 2.0.11 reads it; a 2.0.11 state (one with `reply_context`)
    /// is returned unchanged (its context's messages in 2.0.11's shape, see
    /// [`Msg::to_agentscope_2_0_11`]). `reply_id` and `cur_iter` move into `reply_context` (with
    /// `structured_schema` and `structured_output` `null`), and `middle_context` is `{}`
    /// where absent.
    ///
    /// ```
    /// use agent_sessions::model::AgentState;
    /// let s: AgentState = serde_json::from_str(r#"{"session_id":"s","reply_id":"r"}"#).unwrap();
    /// let v = serde_json::to_value(s.to_agentscope_2_0_11()).unwrap();
    /// assert_eq!(v["reply_context"], serde_json::json!({
    ///     "reply_id": "r", "cur_iter": 0, "structured_schema": null, "structured_output": null,
    /// }));
    /// assert_eq!(v["middle_context"], serde_json::json!({}));
    /// ```
    #[must_use]
    pub fn to_agentscope_2_0_11(&self) -> AgentState {
        let mut out = self.clone();
        if self.reply_in_context
            && self
                .extra
                .get("reply_context")
                .is_some_and(Value::is_object)
        {
            return out;
        }
        // As 2.0.11's migration: top-level values fill what `reply_context` lacks.
        let had = self.extra.get("reply_context").and_then(Value::as_object);
        let kept = |key: &str| had.and_then(|r| r.get(key)).cloned();
        let reply = serde_json::json!({
            "reply_id": kept("reply_id").unwrap_or_else(|| Value::from(self.reply_id.as_str())),
            "cur_iter": kept("cur_iter").unwrap_or_else(|| Value::from(self.cur_iter)),
            "structured_schema": kept("structured_schema").unwrap_or(Value::Null),
            "structured_output": kept("structured_output").unwrap_or(Value::Null),
        });
        if let Some(id) = reply["reply_id"].as_str() {
            id.clone_into(&mut out.reply_id);
        }
        if let Some(n) = reply["cur_iter"].as_i64() {
            out.cur_iter = n;
        }
        let mut extra = Object::new();
        extra.insert("reply_context".into(), reply);
        let middle = self.extra.get("middle_context").cloned();
        extra.insert(
            "middle_context".into(),
            middle.unwrap_or_else(|| Value::Object(Object::new())),
        );
        for (k, v) in &self.extra {
            extra.entry(k.clone()).or_insert_with(|| v.clone());
        }
        out.extra = Extra::from(extra);
        out.reply_in_context = true;
        out
    }
}

/// The tool context: the read-file cache and activated tool groups.
///
/// `max_cache_bytes` and the cache entries' `updated_at`/`bytes` are JSON numbers kept as
/// written: `25000.0` stays a float, `25000` stays an integer.
///
/// ```
/// use agent_sessions::model::ToolContext;
/// let t: ToolContext = serde_json::from_str(r#"{"max_cache_bytes": 25000}"#).unwrap();
/// assert_eq!(serde_json::to_value(&t).unwrap()["max_cache_bytes"], serde_json::json!(25000));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolContext {
    /// How many files the cache holds at most.
    pub max_cache_files: i64,
    /// How many bytes the cache holds at most.
    pub max_cache_bytes: Number,
    /// Cached file reads.
    pub read_file_cache: Vec<ReadCacheEntry>,
    /// Activated tool groups.
    pub activated_groups: Vec<String>,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ToolContext {
    fn default() -> Self {
        Self {
            max_cache_files: 100,
            max_cache_bytes: Number::from_f64(25000.0).unwrap_or_else(|| Number::from(25000)),
            read_file_cache: Vec::new(),
            activated_groups: Vec::new(),
            extra: Extra::new(),
        }
    }
}

/// One cached file read.
///
/// ```
/// let e: agent_sessions::model::ReadCacheEntry = serde_json::from_str(
///     r#"{"lines":["a"],"updated_at":1764331959.123456,"bytes":0.5,"file_path":"/a"}"#,
/// ).unwrap();
/// assert_eq!(e.lines, ["a"]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadCacheEntry {
    /// The lines read.
    pub lines: Vec<String>,
    /// When it was read (seconds since the epoch).
    pub updated_at: Number,
    /// Its size.
    pub bytes: Number,
    /// The file.
    pub file_path: String,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The agent's tasks.
///
/// ```
/// assert!(agent_sessions::model::TaskContext::default().tasks.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskContext {
    /// The tasks.
    pub tasks: Vec<Task>,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

open_enum! {
    /// Where a task stands.
    ///
    /// ```
    /// use agent_sessions::model::TaskState;
    /// assert_eq!(TaskState::default(), TaskState::Pending);
    /// ```
    TaskState, default Pending {
        /// `pending`
        Pending = "pending",
        /// `in_progress`
        InProgress = "in_progress",
        /// `completed`
        Completed = "completed",
    }
}

/// One task of the agent.
///
/// ```
/// let t: agent_sessions::model::Task = serde_json::from_str(
///     r#"{"subject":"write","description":"","metadata":{}}"#,
/// ).unwrap();
/// assert_eq!(t.id.len(), 32);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// What it is about.
    pub subject: String,
    /// What to do.
    pub description: String,
    /// Free-form metadata.
    pub metadata: Object,
    /// When it was created, as the writer formatted it.
    #[serde(default = "now_naive_string")]
    pub created_at: String,
    /// Where it stands.
    #[serde(default)]
    pub state: TaskState,
    /// The task id.
    #[serde(default = "new_id")]
    pub id: String,
    /// Who owns it, or `None`.
    #[serde(default)]
    pub owner: Option<String>,
    /// Ids of the tasks this one blocks.
    #[serde(default)]
    pub blocks: Vec<String>,
    /// Ids of the tasks that block this one.
    #[serde(default)]
    pub blocked_by: Vec<String>,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}
