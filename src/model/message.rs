//! Messages (`state.context[]`) and their content blocks.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::extra::Extra;
use super::ids::new_id;
use super::open_enum::open_enum;
use super::permission::PermissionRule;
use super::tagged;
use super::timestamp::now_naive_string;
use super::Object;

open_enum! {
    /// Who wrote a message.
    ///
    /// ```
    /// use agent_sessions::model::Role;
    /// assert_eq!(Role::from("assistant"), Role::Assistant);
    /// assert_eq!(Role::from("tool").as_str(), "tool");
    /// ```
    Role, default User {
        /// `user`
        User = "user",
        /// `assistant`
        Assistant = "assistant",
        /// `system`
        System = "system",
    }
}

open_enum! {
    /// The state of a tool call.
    ///
    /// ```
    /// use agent_sessions::model::ToolCallState;
    /// assert_eq!(ToolCallState::default(), ToolCallState::Pending);
    /// ```
    ToolCallState, default Pending {
        /// `pending`
        Pending = "pending",
        /// `asking`
        Asking = "asking",
        /// `allowed`
        Allowed = "allowed",
        /// `submitted`
        Submitted = "submitted",
        /// `finished`
        Finished = "finished",
    }
}

open_enum! {
    /// The state of a tool result.
    ///
    /// ```
    /// use agent_sessions::model::ToolResultState;
    /// assert_eq!(ToolResultState::default(), ToolResultState::Running);
    /// ```
    ToolResultState, default Running {
        /// `success`
        Success = "success",
        /// `error`
        Error = "error",
        /// `interrupted`
        Interrupted = "interrupted",
        /// `denied`
        Denied = "denied",
        /// `running`
        Running = "running",
    }
}

/// One message of an agent's context (AgentScope's `Msg`).
///
/// `role` is required by the reference but absent from its docs' example, so it is optional
/// here and written only when present.
///
/// ```
/// use agent_sessions::model::{ContentBlock, Msg, Role};
/// let msg = Msg::new("user", Role::User, vec![ContentBlock::text("hello")]);
/// assert_eq!(msg.id.len(), 32);
/// assert_eq!(msg.text(), "hello");
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Msg {
    /// The sender's name.
    pub name: String,
    /// The content blocks, in order.
    pub content: Vec<ContentBlock>,
    /// Who wrote it; `None` when the input had no `role` (and then none is written).
    #[serde(default)]
    pub role: Option<Role>,
    /// The message id (uuid4 hex by default).
    #[serde(default = "new_id")]
    pub id: String,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Object,
    /// When it was created, as the writer formatted it.
    #[serde(default = "now_naive_string")]
    pub created_at: String,
    /// When it was finished, or `None`.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Token usage, or `None`.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The message keys AgentScope 2.0.11 adds after `usage`; a message with `finished_reason`
/// has 2.0.11's shape, which writes `usage` before `finished_at` (2.0.0 writes them the other
/// way round).
const ADDED_IN_2_0_11: [&str; 3] = ["finished_reason", "structured_output", "error"];

impl Serialize for Msg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("content", &self.content)?;
        if let Some(role) = &self.role {
            map.serialize_entry("role", role)?;
        }
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("metadata", &self.metadata)?;
        map.serialize_entry("created_at", &self.created_at)?;
        if self.extra.contains_key("finished_reason") {
            map.serialize_entry("usage", &self.usage)?;
            map.serialize_entry("finished_at", &self.finished_at)?;
        } else {
            map.serialize_entry("finished_at", &self.finished_at)?;
            map.serialize_entry("usage", &self.usage)?;
        }
        for (k, v) in &self.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Msg {
    /// A new message with a fresh id, created now.
    pub fn new(name: impl Into<String>, role: Role, content: Vec<ContentBlock>) -> Self {
        Self {
            name: name.into(),
            content,
            role: Some(role),
            id: new_id(),
            metadata: Object::new(),
            created_at: now_naive_string(),
            finished_at: None,
            usage: None,
            extra: Extra::new(),
        }
    }

    /// The message as AgentScope 2.0.11 writes it: `finished_reason`, `structured_output` and
    /// `error` (`null`) added where absent, which puts `usage` before `finished_at`. Content
    /// blocks are kept as they are.
    ///
    /// ```
    /// use agent_sessions::model::{ContentBlock, Msg, Role};
    /// let msg = Msg::new("user", Role::User, vec![ContentBlock::text("hi")]).to_agentscope_2_0_11();
    /// let keys: Vec<String> = serde_json::to_value(&msg).unwrap().as_object().unwrap().keys().cloned().collect();
    /// assert_eq!(keys[6..], ["usage", "finished_at", "finished_reason", "structured_output", "error"]);
    /// ```
    #[must_use]
    pub fn to_agentscope_2_0_11(&self) -> Msg {
        let mut out = self.clone();
        if !self.extra.contains_key("finished_reason") {
            let mut extra = Object::new();
            for key in ADDED_IN_2_0_11 {
                let v = self.extra.get(key).cloned().unwrap_or(Value::Null);
                extra.insert(key.to_owned(), v);
            }
            for (k, v) in &self.extra {
                extra.entry(k.clone()).or_insert_with(|| v.clone());
            }
            out.extra = Extra::from(extra);
        }
        out
    }

    /// The concatenated text of the message's `text` blocks.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Token usage of a message.
///
/// ```
/// let u: agent_sessions::model::Usage =
///     serde_json::from_str(r#"{"input_tokens": 3, "output_tokens": 4}"#).unwrap();
/// assert_eq!(u.input_tokens + u.output_tokens, 7);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens read.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A content block, by its `type`. Blocks of a type this version does not know are kept
/// verbatim in [`ContentBlock::Unknown`].
///
/// ```
/// use agent_sessions::model::ContentBlock;
/// let b: ContentBlock = serde_json::from_str(r#"{"type":"audio","id":"x","seconds":3}"#).unwrap();
/// assert!(matches!(b, ContentBlock::Unknown(_)));
/// assert_eq!(serde_json::to_string(&b).unwrap(), r#"{"type":"audio","id":"x","seconds":3}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// `text`
    Text(TextBlock),
    /// `thinking`
    Thinking(ThinkingBlock),
    /// `hint`
    Hint(HintBlock),
    /// `tool_call`
    ToolCall(ToolCallBlock),
    /// `tool_result`
    ToolResult(ToolResultBlock),
    /// `data`
    Data(DataBlock),
    /// A block of a type this version does not know (the whole object, `type` included).
    #[serde(untagged)]
    Unknown(Object),
}

impl ContentBlock {
    /// A `text` block with a fresh id.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextBlock {
            text: text.into(),
            id: new_id(),
            extra: Extra::new(),
        })
    }

    /// The block's `type` as written on the wire (`None` for an unknown block without one).
    pub fn kind(&self) -> Option<&str> {
        Some(match self {
            Self::Text(_) => "text",
            Self::Thinking(_) => "thinking",
            Self::Hint(_) => "hint",
            Self::ToolCall(_) => "tool_call",
            Self::ToolResult(_) => "tool_result",
            Self::Data(_) => "data",
            Self::Unknown(map) => return map.get("type").and_then(Value::as_str),
        })
    }
}

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = tagged::object(d, "a content block")?;
        let Some(tag) = tagged::take_tag(&mut map) else {
            return Ok(Self::Unknown(map));
        };
        Ok(match tag.as_str() {
            "text" => Self::Text(tagged::decode(&tag, map)?),
            "thinking" => Self::Thinking(tagged::decode(&tag, map)?),
            "hint" => Self::Hint(tagged::decode(&tag, map)?),
            "tool_call" => Self::ToolCall(tagged::decode(&tag, map)?),
            "tool_result" => Self::ToolResult(tagged::decode(&tag, map)?),
            "data" => Self::Data(tagged::decode(&tag, map)?),
            _ => {
                map.shift_insert(0, "type".to_owned(), Value::String(tag));
                Self::Unknown(map)
            }
        })
    }
}

/// `{"type": "text", "text", "id"}`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextBlock {
    /// The text.
    pub text: String,
    /// The block id.
    #[serde(default = "new_id")]
    pub id: String,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{"type": "thinking", "thinking", "id"}`; providers add fields such as `signature`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThinkingBlock {
    /// The reasoning text.
    pub thinking: String,
    /// The block id.
    #[serde(default = "new_id")]
    pub id: String,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{"type": "hint", "hint", "id"}`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HintBlock {
    /// The hint.
    pub hint: String,
    /// The block id.
    #[serde(default = "new_id")]
    pub id: String,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{"type": "tool_call", "id", "name", "input", "state", "suggested_rules"}`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCallBlock {
    /// The call id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The input, as a JSON string.
    pub input: String,
    /// Where the call stands.
    #[serde(default)]
    pub state: ToolCallState,
    /// Permission rules suggested for this call.
    #[serde(default)]
    pub suggested_rules: Vec<PermissionRule>,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{"type": "tool_result", "id", "name", "output", "state"}`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolResultBlock {
    /// The id of the call this answers.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The output: a string or blocks.
    pub output: TextOrBlocks,
    /// Where the result stands.
    #[serde(default)]
    pub state: ToolResultState,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{"type": "data", "id", "source", "name"}`: binary content inline or by URL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataBlock {
    /// The block id.
    #[serde(default = "new_id")]
    pub id: String,
    /// Where the bytes are.
    pub source: DataSource,
    /// A file name, or `None`.
    #[serde(default)]
    pub name: Option<String>,
    /// Fields this version does not know; kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A data block's source, by its `type`.
///
/// ```
/// use agent_sessions::model::DataSource;
/// let s: DataSource = serde_json::from_str(
///     r#"{"type":"url","url":"https://example.com/a.png","media_type":"image/png"}"#,
/// ).unwrap();
/// assert!(matches!(s, DataSource::Url { .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DataSource {
    /// `{"type": "base64", "data", "media_type"}`
    Base64 {
        /// Base64 of the bytes.
        data: String,
        /// The MIME type.
        media_type: String,
        /// Fields this version does not know; kept verbatim.
        #[serde(flatten)]
        extra: Extra,
    },
    /// `{"type": "url", "url", "media_type"}`
    Url {
        /// Where the bytes are.
        url: String,
        /// The MIME type.
        media_type: String,
        /// Fields this version does not know; kept verbatim.
        #[serde(flatten)]
        extra: Extra,
    },
    /// A source of a type this version does not know (the whole object).
    #[serde(untagged)]
    Unknown(Object),
}

impl<'de> Deserialize<'de> for DataSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Base64Source {
            data: String,
            media_type: String,
            #[serde(flatten)]
            extra: Extra,
        }
        #[derive(Deserialize)]
        struct UrlSource {
            url: String,
            media_type: String,
            #[serde(flatten)]
            extra: Extra,
        }
        let mut map = tagged::object(d, "a data source")?;
        let Some(tag) = tagged::take_tag(&mut map) else {
            return Ok(Self::Unknown(map));
        };
        Ok(match tag.as_str() {
            "base64" => {
                let b: Base64Source = tagged::decode(&tag, map)?;
                Self::Base64 {
                    data: b.data,
                    media_type: b.media_type,
                    extra: b.extra,
                }
            }
            "url" => {
                let u: UrlSource = tagged::decode(&tag, map)?;
                Self::Url {
                    url: u.url,
                    media_type: u.media_type,
                    extra: u.extra,
                }
            }
            _ => {
                map.shift_insert(0, "type".to_owned(), Value::String(tag));
                Self::Unknown(map)
            }
        })
    }
}

/// A string, or a list of blocks: the shape of `state.summary` and of a tool result's
/// `output`.
///
/// ```
/// use agent_sessions::model::TextOrBlocks;
/// let s: TextOrBlocks = serde_json::from_str(r#""so far""#).unwrap();
/// assert_eq!(s, TextOrBlocks::Text("so far".into()));
/// assert_eq!(TextOrBlocks::default(), TextOrBlocks::Text(String::new()));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TextOrBlocks {
    /// A plain string.
    Text(String),
    /// Content blocks.
    Blocks(Vec<ContentBlock>),
}

impl Default for TextOrBlocks {
    fn default() -> Self {
        Self::Text(String::new())
    }
}

impl<'de> Deserialize<'de> for TextOrBlocks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Self::Text(s)),
            Value::Array(items) => serde_json::from_value(Value::Array(items))
                .map(Self::Blocks)
                .map_err(D::Error::custom),
            other => Err(D::Error::custom(format_args!(
                "expected a string or a list of blocks, found {}",
                tagged::kind(&other)
            ))),
        }
    }
}
