//! The list answer, `{"sessions": [...], "total": n}`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::record::SessionRecord;

/// The answer of `GET /sessions/`: a page of sessions and how many match in all.
///
/// Serializes to exactly `{"sessions":[...],"total":n}`.
///
/// ```
/// use agent_sessions::ListSessionsResponse;
/// let empty = ListSessionsResponse { sessions: vec![], total: 0 };
/// assert_eq!(serde_json::to_string(&empty).unwrap(), r#"{"sessions":[],"total":0}"#);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListSessionsResponse {
    /// The page, in the query's order.
    pub sessions: Vec<Arc<SessionRecord>>,
    /// How many sessions match the query's filters, before paging.
    pub total: usize,
}
