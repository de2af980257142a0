//! Which AgentScope version the server speaks.

use std::fmt;
use std::str::FromStr;

use crate::model::TimestampFormat;

/// The AgentScope version whose session API the server answers as.
///
/// - [`AgentScope::V2_0_0`] (the default): AgentScope 2.0.0, byte for byte as this server
///   has always answered.
/// - [`AgentScope::V2_0_11`]: AgentScope 2.0.11. Lists answer `{"sessions":[{"session",
///   "is_running","status","team"}],"total"}` with `state.context`, `summary` and
///   `tool_context` emptied; records are written in 2.0.11's shape (2.0.0 records converted
///   as 2.0.11 converts them, see [`SessionRecord::to_agentscope_2_0_11`](crate::SessionRecord::to_agentscope_2_0_11));
///   PATCH sets only the fields sent; messages take `before` and answer `has_more`;
///   `GET /sessions/{id}/status` answers.
///
/// ```
/// use agent_sessions::server::AgentScope;
/// assert_eq!("2.0.11".parse::<AgentScope>(), Ok(AgentScope::V2_0_11));
/// assert_eq!(AgentScope::default().to_string(), "2.0.0");
/// assert!("1.9".parse::<AgentScope>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AgentScope {
    /// AgentScope 2.0.0.
    #[default]
    V2_0_0,
    /// AgentScope 2.0.11.
    V2_0_11,
}

impl AgentScope {
    /// Every version the server speaks, as written on the command line.
    pub const NAMES: [&'static str; 2] = ["2.0.0", "2.0.11"];

    /// The version as written on the command line: `2.0.0`, `2.0.11`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2_0_0 => "2.0.0",
            Self::V2_0_11 => "2.0.11",
        }
    }

    /// How the server writes record timestamps when nothing else is said: 2.0.11 as that
    /// version does (naive); 2.0.0 as this crate always has (RFC 3339 with `Z`), so the
    /// default answers stay byte for byte what they were.
    ///
    /// ```
    /// use agent_sessions::{model::TimestampFormat, server::AgentScope};
    /// assert_eq!(AgentScope::V2_0_11.default_timestamps(), TimestampFormat::Naive);
    /// assert_eq!(AgentScope::V2_0_0.default_timestamps(), TimestampFormat::Rfc3339);
    /// ```
    pub fn default_timestamps(self) -> TimestampFormat {
        match self {
            Self::V2_0_0 => TimestampFormat::Rfc3339,
            Self::V2_0_11 => TimestampFormat::Naive,
        }
    }
}

impl fmt::Display for AgentScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version the server does not speak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownAgentScope(pub String);

impl fmt::Display for UnknownAgentScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown AgentScope version {:?}: expected one of {}",
            self.0,
            AgentScope::NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownAgentScope {}

impl FromStr for AgentScope {
    type Err = UnknownAgentScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "2.0.0" => Ok(Self::V2_0_0),
            "2.0.11" => Ok(Self::V2_0_11),
            other => Err(UnknownAgentScope(other.to_owned())),
        }
    }
}
