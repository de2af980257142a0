//! What a list asks for: scope, order, page and filters.

use std::fmt;
use std::str::FromStr;

use crate::model::{SessionRecord, SessionSource};
use crate::{ListSessionsResponse, StoreError};

/// The order of a list. Ties on the timestamp are broken by id, in the same direction.
///
/// ```
/// use agent_sessions::Order;
/// assert_eq!(Order::default(), Order::CreatedDesc); // as AgentScope
/// assert_eq!("updated_asc".parse::<Order>().unwrap(), Order::UpdatedAsc);
/// assert_eq!(Order::UpdatedAsc.to_string(), "updated_asc");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// Newest first by `created_at` (AgentScope's order).
    #[default]
    CreatedDesc,
    /// Oldest first by `created_at`.
    CreatedAsc,
    /// Most recently changed first.
    UpdatedDesc,
    /// Least recently changed first.
    UpdatedAsc,
}

impl Order {
    /// Every order, for iteration.
    pub const ALL: [Order; 4] = [
        Order::CreatedDesc,
        Order::CreatedAsc,
        Order::UpdatedDesc,
        Order::UpdatedAsc,
    ];

    /// The names of [`Order::ALL`] ([`Order::as_str`]), in its order.
    pub const NAMES: [&'static str; 4] = {
        let mut names = [""; 4];
        let mut i = 0;
        while i < names.len() {
            names[i] = Order::ALL[i].as_str();
            i += 1;
        }
        names
    };

    /// The name used in query strings: `created_desc`, `created_asc`, `updated_desc`,
    /// `updated_asc`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Order::CreatedDesc => "created_desc",
            Order::CreatedAsc => "created_asc",
            Order::UpdatedDesc => "updated_desc",
            Order::UpdatedAsc => "updated_asc",
        }
    }

    /// Whether the order is by `updated_at` (else by `created_at`).
    pub fn by_updated(self) -> bool {
        matches!(self, Order::UpdatedDesc | Order::UpdatedAsc)
    }

    /// Whether the newest come first.
    pub fn descending(self) -> bool {
        matches!(self, Order::CreatedDesc | Order::UpdatedDesc)
    }

    fn code(self) -> char {
        match self {
            Order::CreatedDesc => 'c',
            Order::CreatedAsc => 'C',
            Order::UpdatedDesc => 'u',
            Order::UpdatedAsc => 'U',
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        Order::ALL.into_iter().find(|o| o.code() as u8 == c)
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an [`Order`] from an unknown name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown order {0:?}: use created_desc, created_asc, updated_desc or updated_asc")]
pub struct UnknownOrder(pub String);

impl FromStr for Order {
    type Err = UnknownOrder;
    fn from_str(s: &str) -> Result<Self, UnknownOrder> {
        Order::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownOrder(s.to_owned()))
    }
}

/// A position in a list: the page after it starts just past the session it was made from.
///
/// Unlike an offset, a cursor stays correct while others insert or delete: a session is never
/// shown twice or skipped because of them (in an `Updated*` order a session that is updated
/// moves, as it should). A cursor carries its order; a query with a cursor lists in that order.
/// Its text form is opaque, URL-safe and stable across versions of this crate.
///
/// ```
/// use agent_sessions::{Cursor, ListQuery, NewSession, Order, SessionStore};
/// let store = SessionStore::new();
/// for i in 0..5 {
///     store.create(NewSession::new("u", "a").name(format!("s{i}")))?;
/// }
/// let first = store.list(&ListQuery::new("u", "a").limit(2));
/// let cursor = Cursor::after(first.sessions.last().unwrap(), Order::CreatedDesc);
/// let text = cursor.to_string(); // hand it to a client...
/// let cursor: Cursor = text.parse()?; // ...and take it back
/// let second = store.list(&ListQuery::new("u", "a").limit(2).cursor(cursor));
/// assert_eq!(second.sessions.len(), 2);
/// assert!(second.sessions.iter().all(|s| !first.sessions.contains(s)));
/// # Ok::<(), agent_sessions::StoreError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub(crate) order: Order,
    pub(crate) micros: i64,
    pub(crate) id: String,
}

impl Cursor {
    /// The position just past `record` in `order`.
    pub fn after(record: &SessionRecord, order: Order) -> Self {
        let t = if order.by_updated() {
            record.updated_at
        } else {
            record.created_at
        };
        Self {
            order,
            micros: t.timestamp_micros(),
            id: record.id.clone(),
        }
    }

    /// A cursor at a position given by its parts: the session `id` whose timestamp (by
    /// `order`'s field) is `micros` microseconds since the Unix epoch.
    ///
    /// ```
    /// use agent_sessions::{Cursor, Order};
    /// let c = Cursor::at(Order::CreatedDesc, 1_700_000_000_000_000, "s1");
    /// assert_eq!((c.micros(), c.id()), (1_700_000_000_000_000, "s1"));
    /// ```
    pub fn at(order: Order, micros: i64, id: impl Into<String>) -> Self {
        Self {
            order,
            micros,
            id: id.into(),
        }
    }

    /// The order this cursor pages through.
    pub fn order(&self) -> Order {
        self.order
    }

    /// The timestamp of the position, in microseconds since the Unix epoch (`created_at` or
    /// `updated_at`, by the order).
    pub fn micros(&self) -> i64 {
        self.micros
    }

    /// The session id of the position: ties on the timestamp are broken by id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for Cursor {
    /// `<order code><micros>.<hex of id>`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}.", self.order.code(), self.micros)?;
        for b in self.id.bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for Cursor {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        let bad = |reason| StoreError::InvalidCursor { reason };
        let (&code, _) = s.as_bytes().split_first().ok_or(bad("it is empty"))?;
        let order = Order::from_code(code).ok_or(bad("it names no order"))?;
        let rest = &s[1..]; // the code is ASCII, so byte 1 is a char boundary
        let (micros, hex) = rest.split_once('.').ok_or(bad("it has no id"))?;
        let micros: i64 = micros
            .parse()
            .map_err(|_| bad("its position is not a number"))?;
        if hex.is_empty() || hex.len() % 2 != 0 {
            return Err(bad("its id is not hex"));
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad("its id is not hex"))?;
        let id = String::from_utf8(bytes).map_err(|_| bad("its id is not UTF-8"))?;
        Ok(Self { order, micros, id })
    }
}

/// A list of one user's sessions with one agent: order, page and filters.
///
/// By default: newest first by `created_at`, every session (no limit), no filter, exactly as
/// AgentScope's `GET /sessions/`.
///
/// ```
/// use agent_sessions::{model::SessionSource, ListQuery, Order};
/// let q = ListQuery::new("user-1", "agent-1")
///     .order(Order::UpdatedDesc)
///     .limit(20)
///     .offset(40)
///     .source(SessionSource::Schedule)
///     .workspace_id("ws-1");
/// assert_eq!(q.limit, Some(20));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListQuery {
    /// The owner.
    pub user_id: String,
    /// The agent.
    pub agent_id: String,
    /// The order (a cursor's own order wins over it).
    pub order: Order,
    /// At most this many sessions; `None` for all.
    pub limit: Option<usize>,
    /// Skip this many matching sessions first (after the cursor, if any).
    pub offset: usize,
    /// Start just past this position.
    pub cursor: Option<Cursor>,
    /// Only sessions with this `source`.
    pub source: Option<SessionSource>,
    /// Only sessions with this `source_schedule_id`.
    pub source_schedule_id: Option<String>,
    /// Only sessions with this `config.workspace_id`.
    pub workspace_id: Option<String>,
}

impl ListQuery {
    /// Every session of `user_id` with `agent_id`, newest first.
    pub fn new(user_id: impl Into<String>, agent_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            agent_id: agent_id.into(),
            order: Order::default(),
            limit: None,
            offset: 0,
            cursor: None,
            source: None,
            source_schedule_id: None,
            workspace_id: None,
        }
    }

    /// Sets the order (default [`Order::CreatedDesc`]).
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Returns at most `limit` sessions (default: all).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skips `offset` matching sessions (default 0). Costs O(offset); prefer a cursor for deep
    /// pages.
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// Starts just past `cursor`, in the cursor's order.
    pub fn cursor(mut self, cursor: Cursor) -> Self {
        self.order = cursor.order;
        self.cursor = Some(cursor);
        self
    }

    /// Keeps only sessions with this `source`.
    pub fn source(mut self, source: SessionSource) -> Self {
        self.source = Some(source);
        self
    }

    /// Keeps only sessions with this `source_schedule_id`.
    pub fn source_schedule_id(mut self, id: impl Into<String>) -> Self {
        self.source_schedule_id = Some(id.into());
        self
    }

    /// Keeps only sessions with this `config.workspace_id`.
    pub fn workspace_id(mut self, id: impl Into<String>) -> Self {
        self.workspace_id = Some(id.into());
        self
    }

    /// The order the list is in: the cursor's, if there is one.
    pub fn effective_order(&self) -> Order {
        self.cursor.as_ref().map_or(self.order, |c| c.order)
    }

    /// The query for the page after `page` (a page this query returned), or `None` when
    /// `page` was the last: it continues by cursor, so it stays correct under inserts.
    ///
    /// ```
    /// use agent_sessions::{ListQuery, NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// for _ in 0..5 {
    ///     store.create(NewSession::new("u", "a"))?;
    /// }
    /// let mut query = ListQuery::new("u", "a").limit(2);
    /// let mut seen = 0;
    /// loop {
    ///     let page = store.list(&query);
    ///     seen += page.sessions.len();
    ///     match query.next_page(&page) {
    ///         Some(next) => query = next,
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(seen, 5);
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn next_page(&self, page: &ListSessionsResponse) -> Option<ListQuery> {
        let limit = self.limit?;
        if limit == 0 || page.sessions.len() < limit {
            return None;
        }
        let last = page.sessions.last()?;
        let mut next = self.clone();
        next.offset = 0;
        Some(next.cursor(Cursor::after(last, self.effective_order())))
    }

    /// Whether any filter is set.
    pub fn is_filtered(&self) -> bool {
        self.source.is_some() || self.source_schedule_id.is_some() || self.workspace_id.is_some()
    }

    /// Whether `record` passes the filters (scope and paging are not looked at).
    ///
    /// ```
    /// use agent_sessions::{ListQuery, NewSession};
    /// let rec = NewSession::new("u", "a").workspace_id("w").into_record(chrono::Utc::now());
    /// assert!(ListQuery::new("u", "a").workspace_id("w").matches(&rec));
    /// assert!(!ListQuery::new("u", "a").workspace_id("x").matches(&rec));
    /// ```
    pub fn matches(&self, record: &SessionRecord) -> bool {
        self.source.as_ref().is_none_or(|s| *s == record.source)
            && self
                .source_schedule_id
                .as_deref()
                .is_none_or(|s| record.source_schedule_id.as_deref() == Some(s))
            && self
                .workspace_id
                .as_deref()
                .is_none_or(|w| record.config.workspace_id == w)
    }
}
