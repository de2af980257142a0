//! The agent state saved with a session.

use serde::{Deserialize, Serialize};
use serde_json::Number;

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
/// ```
/// use agent_sessions::model::AgentState;
/// let s = AgentState::default();
/// assert_eq!(s.session_id.len(), 32);
/// assert_eq!(s.tool_context.max_cache_files, 100);
/// assert_eq!(serde_json::to_string(&s.tool_context.max_cache_bytes).unwrap(), "25000.0");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentState {
    /// The agent's own session id (not the record's `id`).
    pub session_id: String,
    /// A summary of what came before the context: a string or blocks.
    pub summary: TextOrBlocks,
    /// The messages in the agent's context, oldest first.
    pub context: Vec<Msg>,
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
    #[serde(flatten)]
    pub extra: Extra,
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
        }
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
