//! New identifiers, as AgentScope makes them.

/// A new identifier as AgentScope makes them: a uuid4 in 32 lowercase hex digits.
///
/// ```
/// let id = agent_sessions::model::new_id();
/// assert_eq!(id.len(), 32);
/// assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
/// ```
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
