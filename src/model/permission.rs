//! The permission context of an agent's state.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::extra::Extra;
use super::open_enum::open_enum;

open_enum! {
    /// How the agent asks for permission.
    ///
    /// ```
    /// use agent_sessions::model::PermissionMode;
    /// assert_eq!(PermissionMode::default().as_str(), "default");
    /// assert_eq!(PermissionMode::parse_known("root"), None);
    /// ```
    PermissionMode, default Default {
        /// `default`: every operation needs explicit permission.
        Default = "default",
        /// `accept_edits`: edits within working directories are allowed.
        AcceptEdits = "accept_edits",
        /// `explore`: read-only.
        Explore = "explore",
        /// `bypass`: everything is allowed.
        Bypass = "bypass",
        /// `dont_ask`: every "ask" becomes "deny".
        DontAsk = "dont_ask",
    }
}

open_enum! {
    /// What a permission rule decides.
    ///
    /// ```
    /// use agent_sessions::model::PermissionBehavior;
    /// assert_eq!(PermissionBehavior::from("deny"), PermissionBehavior::Deny);
    /// ```
    PermissionBehavior, default Ask {
        /// `allow`
        Allow = "allow",
        /// `deny`
        Deny = "deny",
        /// `ask`
        Ask = "ask",
        /// `passthrough`: the engine goes on matching rules.
        Passthrough = "passthrough",
    }
}

/// The permission state of a session.
///
/// ```
/// use agent_sessions::model::{PermissionContext, PermissionMode};
/// let p = PermissionContext::default();
/// assert_eq!(p.mode, PermissionMode::Default);
/// assert!(p.allow_rules.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PermissionContext {
    /// The mode.
    pub mode: PermissionMode,
    /// Extra directories in scope, by path.
    pub working_directories: IndexMap<String, WorkingDirectory>,
    /// Allow rules, by tool name.
    pub allow_rules: IndexMap<String, Vec<PermissionRule>>,
    /// Deny rules, by tool name.
    pub deny_rules: IndexMap<String, Vec<PermissionRule>>,
    /// Ask rules, by tool name.
    pub ask_rules: IndexMap<String, Vec<PermissionRule>>,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A directory in the permission scope.
///
/// ```
/// let w: agent_sessions::model::WorkingDirectory =
///     serde_json::from_str(r#"{"path":"/srv","source":"session"}"#).unwrap();
/// assert_eq!(w.path, "/srv");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkingDirectory {
    /// The directory.
    pub path: String,
    /// Who added it.
    pub source: String,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A permission rule for a tool.
///
/// ```
/// use agent_sessions::model::{PermissionBehavior, PermissionRule};
/// let r: PermissionRule = serde_json::from_str(
///     r#"{"tool_name":"bash","rule_content":null,"behavior":"ask","source":"user"}"#,
/// ).unwrap();
/// assert_eq!(r.behavior, PermissionBehavior::Ask);
/// assert_eq!(r.rule_content, None);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PermissionRule {
    /// The tool it applies to.
    pub tool_name: String,
    /// A tool-specific pattern, or `None` for the whole tool.
    pub rule_content: Option<String>,
    /// What it decides.
    pub behavior: PermissionBehavior,
    /// Who made it.
    pub source: String,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}
