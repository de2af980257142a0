//! The wire types of AgentScope 2.0.0's session service.
//!
//! Every struct keeps the fields this version does not know in an `extra` map, every enum keeps
//! values it does not know in an `Other` variant, and content blocks of unknown types are kept
//! whole, so records written by newer servers survive a round trip unchanged.

mod agent;
mod default_box;
mod extra;
mod ids;
mod list;
mod message;
mod open_enum;
mod permission;
mod record;
mod state;
mod tagged;
mod timestamp;

pub use agent::AgentRecord;
pub use default_box::{DefaultBox, SharedDefault};
pub use extra::Extra;
pub use ids::new_id;
pub use list::ListSessionsResponse;
pub use message::{
    ContentBlock, DataBlock, DataSource, HintBlock, Msg, Role, TextBlock, TextOrBlocks,
    ThinkingBlock, ToolCallBlock, ToolCallState, ToolResultBlock, ToolResultState, Usage,
};
pub use permission::{
    PermissionBehavior, PermissionContext, PermissionMode, PermissionRule, WorkingDirectory,
};
pub use record::{ChatModelConfig, SessionConfig, SessionRecord, SessionSource};
pub use state::{AgentState, ReadCacheEntry, Task, TaskContext, TaskState, ToolContext};
pub use timestamp::{format_timestamp, parse_timestamp, TimestampFormat};

/// A JSON object as kept in `metadata` and `parameters` fields, and behind every [`Extra`]
/// (insertion-ordered).
pub type Object = serde_json::Map<String, serde_json::Value>;

pub(crate) use timestamp::{default_session_name, now, truncate_micros};
