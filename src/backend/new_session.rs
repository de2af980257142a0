//! What `create` takes: a new session's owner, agent and settings, with AgentScope's defaults.

use chrono::{DateTime, Utc};

use crate::model::{
    default_session_name, new_id, AgentState, ChatModelConfig, Extra, SessionConfig, SessionRecord,
    SessionSource,
};

/// A session to create (see [`SessionBackend::create`](crate::SessionBackend::create)). Whatever is not set gets AgentScope's default: a uuid4-hex id and
/// workspace id, the creation time as name (`YYYY-MM-DD HH:MM:SS`), source `user`, no chat
/// model, and a fresh [`AgentState`].
///
/// ```
/// use agent_sessions::{NewSession, SessionStore};
/// let store = SessionStore::new();
/// let rec = store.create(NewSession::new("user-1", "agent-1").workspace_id("ws").name("First"))?;
/// assert_eq!(rec.config.name, "First");
/// assert_eq!(rec.id.len(), 32);
/// assert_eq!(rec.created_at, rec.updated_at);
/// # Ok::<(), agent_sessions::StoreError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a NewSession does nothing until given to `SessionStore::create`"]
pub struct NewSession {
    user_id: String,
    agent_id: String,
    id: Option<String>,
    workspace_id: Option<String>,
    name: Option<String>,
    chat_model_config: Option<ChatModelConfig>,
    source: SessionSource,
    source_schedule_id: Option<String>,
    state: Option<AgentState>,
}

impl NewSession {
    /// A session of `user_id` with `agent_id`, all else by default.
    pub fn new(user_id: impl Into<String>, agent_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            agent_id: agent_id.into(),
            id: None,
            workspace_id: None,
            name: None,
            chat_model_config: None,
            source: SessionSource::User,
            source_schedule_id: None,
            state: None,
        }
    }

    /// Uses this id instead of a fresh one (it must be unique within the user and agent).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets `config.workspace_id` (default: a fresh uuid4 hex, as AgentScope).
    pub fn workspace_id(mut self, workspace_id: impl Into<String>) -> Self {
        self.workspace_id = Some(workspace_id.into());
        self
    }

    /// Sets `config.name` (default: the creation time as `YYYY-MM-DD HH:MM:SS`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets `config.chat_model_config` (default: none).
    pub fn chat_model_config(mut self, config: ChatModelConfig) -> Self {
        self.chat_model_config = Some(config);
        self
    }

    /// Sets `source` (default: `user`).
    pub fn source(mut self, source: SessionSource) -> Self {
        self.source = source;
        self
    }

    /// Sets `source_schedule_id` (default: none).
    pub fn source_schedule_id(mut self, id: impl Into<String>) -> Self {
        self.source_schedule_id = Some(id.into());
        self
    }

    /// Starts from this state instead of [`AgentState::default`].
    pub fn state(mut self, state: AgentState) -> Self {
        self.state = Some(state);
        self
    }

    /// The user the session will belong to.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The agent the session will belong to.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The record this describes, created at `now`: what a backend stores for it.
    ///
    /// ```
    /// use agent_sessions::NewSession;
    /// let now = chrono::Utc::now();
    /// let rec = NewSession::new("u", "a").name("n").into_record(now);
    /// assert_eq!((rec.user_id.as_str(), rec.config.name.as_str()), ("u", "n"));
    /// assert_eq!(rec.created_at, now);
    /// ```
    pub fn into_record(self, now: DateTime<Utc>) -> SessionRecord {
        SessionRecord::from_parts(
            self.id.unwrap_or_else(new_id),
            now,
            self.user_id,
            self.agent_id,
            self.source,
            self.source_schedule_id,
            SessionConfig {
                workspace_id: self.workspace_id.unwrap_or_else(new_id),
                name: self.name.unwrap_or_else(|| default_session_name(&now)),
                chat_model_config: self.chat_model_config.map(Box::new),
                extra: Extra::new(),
            },
            self.state.unwrap_or_default(),
        )
    }
}
