//! Import from AgentScope 2.0.x's own Redis (`agentscope.app.storage.RedisStorage`).
//!
//! The layout it reads (every key starts with the prefix, `agentscope` by default):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `agentscope:user:{u}:agents` | SET | the user's agent ids |
//! | `agentscope:user:{u}:agent:{a}` | STRING | the [`AgentRecord`] JSON |
//! | `agentscope:user:{u}:agent:{a}:sessions` | SET | the agent's session ids |
//! | `agentscope:user:{u}:session:{s}` | STRING | the [`SessionRecord`] JSON |
//! | `agentscope:user:{u}:session:{s}:messages` | LIST | the history, [`Msg`] JSON, oldest first |
//!
//! There is no set of users: users are found with `SCAN MATCH …:user:*:agents` and
//! `SCAN MATCH …:user:*:agent:*:sessions` (never `KEYS`). The same namespace also holds
//! credentials, schedules and the schedule index (`…:credential:*`, `…:schedule:*`,
//! `agentscope:schedules`): a session backend has no place for them, so they are not read.
//! A `RedisStorage` with `key_ttl` lets records expire while their ids stay in the index
//! sets; such *dangling* ids are counted and skipped, as AgentScope's own lists skip them.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::future::Future;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::{AgentRecord, Msg, SessionRecord};
use crate::{SessionBackend, StoreError};

/// What to do with a source value that cannot be imported: not JSON, the wrong shape, the
/// wrong Redis type, ids that disagree with its key, or refused by the destination for its
/// content (too large, too deep).
///
/// ```
/// use agent_sessions::import::{ImportOptions, OnDamaged};
/// let strict = ImportOptions::default().on_damaged(OnDamaged::Fail);
/// assert_eq!(OnDamaged::default(), OnDamaged::Skip);
/// # let _ = strict;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDamaged {
    /// Skip it, list it in [`ImportReport::issues`] with its key, and import everything
    /// else. A damaged message ends its session's import at that message: the messages
    /// after it are not imported (they would take the wrong places in the history).
    #[default]
    Skip,
    /// Stop at the first one with [`ImportError::Damaged`]. What was imported before stays;
    /// run the import again once the key is fixed: it resumes.
    Fail,
}

/// How [`import_agentscope_redis`] reads and writes.
///
/// ```
/// use std::time::Duration;
/// use agent_sessions::import::ImportOptions;
/// let options = ImportOptions::default()
///     .timeout(Duration::from_secs(5))
///     .batch_size(200);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct ImportOptions {
    timeout: Duration,
    destination_timeout: Duration,
    scan_count: usize,
    batch_size: usize,
    on_damaged: OnDamaged,
    key_prefix: String,
    max_issues: usize,
}

impl Default for ImportOptions {
    /// A 2 s timeout per source call, 10 s per destination call, `SCAN … COUNT 1000`,
    /// batches of 500, damaged values skipped, prefix `agentscope`, up to 1000 issues listed.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            destination_timeout: Duration::from_secs(10),
            scan_count: 1000,
            batch_size: 500,
            on_damaged: OnDamaged::Skip,
            key_prefix: "agentscope".to_owned(),
            max_issues: 1000,
        }
    }
}

impl ImportOptions {
    /// The longest any one call to the source Redis (connecting included) may take before
    /// the import fails with [`ImportError::Timeout`]. Default 2 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let o = agent_sessions::import::ImportOptions::default().timeout(Duration::from_millis(500));
    /// # let _ = o;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest any one call to the destination may take before the import fails with
    /// [`ImportError::DestinationTimeout`]. Default 10 s (a durable destination waits for
    /// its disk).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let o = agent_sessions::import::ImportOptions::default()
    ///     .destination_timeout(Duration::from_secs(30));
    /// # let _ = o;
    /// ```
    pub fn destination_timeout(mut self, timeout: Duration) -> Self {
        self.destination_timeout = timeout;
        self
    }

    /// The `COUNT` hint of each `SCAN` (at least 1). Default 1000.
    ///
    /// ```
    /// let o = agent_sessions::import::ImportOptions::default().scan_count(10_000);
    /// # let _ = o;
    /// ```
    pub fn scan_count(mut self, count: usize) -> Self {
        self.scan_count = count.max(1);
        self
    }

    /// How many keys one `MGET` or pipeline reads, and how many messages one round trip
    /// fetches (at least 1). Default 500.
    ///
    /// ```
    /// let o = agent_sessions::import::ImportOptions::default().batch_size(100);
    /// # let _ = o;
    /// ```
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// What to do with a value that cannot be imported. Default [`OnDamaged::Skip`].
    ///
    /// ```
    /// use agent_sessions::import::{ImportOptions, OnDamaged};
    /// let o = ImportOptions::default().on_damaged(OnDamaged::Fail);
    /// # let _ = o;
    /// ```
    pub fn on_damaged(mut self, policy: OnDamaged) -> Self {
        self.on_damaged = policy;
        self
    }

    /// The first part of every key, for a `RedisStorage` whose `RedisKeyConfig` templates
    /// were given another prefix. Default `agentscope`.
    ///
    /// ```
    /// let o = agent_sessions::import::ImportOptions::default().key_prefix("staging:agentscope");
    /// # let _ = o;
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How many issues the report lists; more are only counted
    /// ([`ImportReport::issues_omitted`]). Default 1000.
    ///
    /// ```
    /// let o = agent_sessions::import::ImportOptions::default().max_issues(10);
    /// # let _ = o;
    /// ```
    pub fn max_issues(mut self, max: usize) -> Self {
        self.max_issues = max;
        self
    }
}

/// Why an import stopped. What was written before stays in the destination, and every write
/// is idempotent: once the cause is fixed, run the import again and it resumes.
///
/// ```
/// use agent_sessions::import::ImportError;
/// let e = ImportError::Timeout { operation: "SCAN".into(), after: std::time::Duration::from_secs(2) };
/// assert!(e.to_string().contains("run the import again"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The source URL cannot be used.
    #[error(
        "invalid source URL {url:?}: {reason}; give it as redis://[[user]:password@]host[:port][/db]"
    )]
    InvalidUrl {
        /// The URL, its password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The source Redis could not be reached.
    #[error(
        "cannot connect to the source Redis at {url}: {reason}; check that it runs, its host \
         and port, and the password in the URL"
    )]
    Connect {
        /// The URL, its password masked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The source Redis did not answer a call in time.
    #[error(
        "the source Redis did not answer {operation} within {after:?}; check its load and the \
         network, or raise the timeout, then run the import again: it resumes where it stopped"
    )]
    Timeout {
        /// The call.
        operation: String,
        /// The timeout.
        after: Duration,
    },
    /// The source Redis answered a call with an error.
    #[error("the source Redis failed {operation}: {reason}; {hint}")]
    Source {
        /// The call.
        operation: String,
        /// What Redis said.
        reason: String,
        /// What to do next.
        hint: &'static str,
    },
    /// A value that cannot be imported, with [`OnDamaged::Fail`].
    #[error(
        "damaged value at {key}: {reason}; fix or delete that key, or import with damaged values \
         skipped (they are then listed in the report); what was imported so far stays, and the \
         next run resumes"
    )]
    Damaged {
        /// The Redis key (and, for a message, its index).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The destination failed (it is unavailable, or its journal failed).
    #[error(
        "the destination failed {operation}: {source}; once it is fixed, run the import again: \
         it resumes where it stopped"
    )]
    Destination {
        /// The call.
        operation: String,
        /// The destination's error.
        #[source]
        source: StoreError,
    },
    /// The destination did not answer a call in time.
    #[error(
        "the destination did not answer {operation} within {after:?}; check it, or raise the \
         destination timeout, then run the import again: it resumes where it stopped"
    )]
    DestinationTimeout {
        /// The call.
        operation: String,
        /// The timeout.
        after: Duration,
    },
}

/// How many things of one kind the import saw, and what became of them.
///
/// ```
/// let c = agent_sessions::import::Counts { imported: 2, skipped: 1, failed: 0 };
/// assert_eq!(c.imported + c.skipped + c.failed, 3);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Written to the destination by this run.
    pub imported: u64,
    /// Already in the destination (from an earlier run): left as they are.
    pub skipped: u64,
    /// Not imported: damaged, refused by the destination, or in conflict with it (see
    /// [`ImportReport::issues`]).
    pub failed: u64,
}

/// What kind of problem an [`ImportIssue`] is.
///
/// ```
/// use agent_sessions::import::IssueKind;
/// assert_eq!(IssueKind::Damaged.to_string(), "damaged");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueKind {
    /// The source value is not JSON, has the wrong shape or Redis type, or its ids disagree
    /// with its key. Not imported.
    Damaged,
    /// The destination refused the value for its content (too large, too deep, an id too
    /// long). Not imported.
    Rejected,
    /// Already in the destination with other content (changed there, or in the source since
    /// the last run). The destination's copy is left as it is.
    Differs,
    /// The destination's message history is not a prefix of the source's (messages were
    /// added or changed there). Left as it is; no message of the session was imported.
    Diverged,
    /// A key whose user and agent ids cannot be told apart (an id containing `:agent:`).
    /// Not imported.
    Ambiguous,
    /// A session listed under one agent whose record names another; imported under the
    /// agent its record names.
    Misfiled,
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IssueKind::Damaged => "damaged",
            IssueKind::Rejected => "rejected",
            IssueKind::Differs => "differs",
            IssueKind::Diverged => "diverged",
            IssueKind::Ambiguous => "ambiguous",
            IssueKind::Misfiled => "misfiled",
        })
    }
}

/// One problem the import met, with the Redis key it concerns.
///
/// ```
/// use agent_sessions::import::{ImportIssue, IssueKind};
/// let i = ImportIssue { kind: IssueKind::Damaged, key: "agentscope:user:u:session:s".into(), detail: "not JSON".into() };
/// assert_eq!(i.to_string(), "damaged agentscope:user:u:session:s: not JSON");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportIssue {
    /// What kind of problem.
    pub kind: IssueKind,
    /// The Redis key (for a message, `key[index]`).
    pub key: String,
    /// What exactly.
    pub detail: String,
}

impl fmt::Display for ImportIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.key, self.detail)
    }
}

/// What an import did. Its `Display` writes one line per count, then one line per issue.
///
/// ```
/// let report = agent_sessions::import::ImportReport::default();
/// assert!(report.is_clean());
/// assert!(report.to_string().starts_with("users: 0 imported, 0 already present\n"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Users found (they have an agent set or a session index). *Imported*: something of
    /// theirs was written by this run; *skipped*: everything of theirs was already there.
    pub users: Counts,
    /// Agent records (`register_agent`).
    pub agents: Counts,
    /// Session records (`insert`).
    pub sessions: Counts,
    /// Messages (`append_message`), counted one per source message.
    pub messages: Counts,
    /// Messages already imported whose source copy changed since (AgentScope rewrites a
    /// session's last message in place while a reply streams): written again, in place.
    /// Counted in [`Counts::imported`] of `messages` too.
    pub messages_replaced: u64,
    /// Ids in an index set whose record key is gone (expired or deleted): skipped, as
    /// AgentScope's own lists skip them.
    pub dangling: u64,
    /// The problems met, in the order met (up to the `max_issues` option).
    pub issues: Vec<ImportIssue>,
    /// Problems met beyond those listed.
    pub issues_omitted: u64,
}

impl ImportReport {
    /// Whether the import met no problem: everything found is now in the destination as it
    /// is in the source.
    ///
    /// ```
    /// assert!(agent_sessions::import::ImportReport::default().is_clean());
    /// ```
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty() && self.issues_omitted == 0
    }

    /// Whether this run wrote anything (a second run over an unchanged source writes
    /// nothing).
    ///
    /// ```
    /// assert!(!agent_sessions::import::ImportReport::default().wrote_anything());
    /// ```
    pub fn wrote_anything(&self) -> bool {
        self.agents.imported + self.sessions.imported + self.messages.imported > 0
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = self.users;
        writeln!(
            f,
            "users: {} imported, {} already present",
            u.imported, u.skipped
        )?;
        for (name, c) in [("agents", self.agents), ("sessions", self.sessions)] {
            writeln!(
                f,
                "{name}: {} imported, {} already present, {} not imported",
                c.imported, c.skipped, c.failed
            )?;
        }
        let m = self.messages;
        writeln!(
            f,
            "messages: {} imported ({} of them replacing an earlier copy), {} already present, {} not imported",
            m.imported, self.messages_replaced, m.skipped, m.failed
        )?;
        writeln!(f, "dangling index entries skipped: {}", self.dangling)?;
        writeln!(
            f,
            "issues: {}",
            self.issues.len() as u64 + self.issues_omitted
        )?;
        for issue in &self.issues {
            writeln!(f, "  {issue}")?;
        }
        if self.issues_omitted > 0 {
            writeln!(f, "  ... and {} more", self.issues_omitted)?;
        }
        Ok(())
    }
}

/// Copies every agent, session and message history that AgentScope 2.0.x's `RedisStorage`
/// keeps in the Redis at `source_url` into `dest`, records unchanged (ids, timestamps,
/// unknown fields): agents with [`SessionBackend::register_agent`] (in order of creation),
/// sessions with [`SessionBackend::insert`], messages with
/// [`SessionBackend::append_message`], oldest first. Call it within a Tokio runtime.
///
/// **Idempotent and resumable.** An agent or session already in `dest` is skipped (counted
/// in [`Counts::skipped`]; if its content differs it is left as it is and reported as
/// [`IssueKind::Differs`]). A history is resumed where it stopped: when `dest` holds the
/// first *n* messages of the source's history exactly, messages *n* and later are appended;
/// if only message *n − 1* differs (AgentScope rewrites its last message in place while a
/// reply streams) it is written again in place first. Any other difference is
/// [`IssueKind::Diverged`] and the history is left as it is. So a second run over an
/// unchanged source writes nothing, and a run after a failure or after the source grew
/// writes exactly what is missing.
///
/// Sessions whose agent has no agent record are imported all the same. Damaged values are
/// handled as [`ImportOptions::on_damaged`] says. The source is read in batches (`SCAN …
/// COUNT`, pipelined `SMEMBERS`/`LLEN`/`LRANGE`, `MGET`); it must be one Redis node (as
/// `RedisStorage` uses), not a Cluster. Point it at a source that is not being written, or
/// run it again afterwards to pick up what changed meanwhile.
///
/// ```no_run
/// use agent_sessions::import::{import_agentscope_redis, ImportOptions};
/// use agent_sessions::SessionStore;
///
/// # async fn run() -> Result<(), agent_sessions::import::ImportError> {
/// let store = SessionStore::open("/var/lib/agent-sessions").expect("open");
/// let report =
///     import_agentscope_redis("redis://127.0.0.1:6379/0", &store, &ImportOptions::default())
///         .await?;
/// print!("{report}");
/// assert!(report.is_clean(), "some values were not imported");
/// # Ok(()) }
/// ```
pub async fn import_agentscope_redis(
    source_url: &str,
    dest: &dyn SessionBackend,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let source = Source::connect(source_url, options).await?;
    let mut run = Run {
        source,
        dest,
        options,
        keys: Keys::new(&options.key_prefix),
        report: ImportReport::default(),
        users_written: HashSet::new(),
    };
    let mut plan = run.discover().await?;
    run.import_agents(&plan).await?;
    let present = run.import_sessions(&mut plan).await?;
    run.import_messages(&present).await?;
    run.report.users = Counts {
        imported: run.users_written.len() as u64,
        skipped: (plan.users.len() - run.users_written.len()) as u64,
        failed: 0,
    };
    Ok(run.report)
}

/// The key templates of `RedisStorage`'s `RedisKeyConfig`, with a prefix.
struct Keys {
    /// `{prefix}:user:`
    user: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self {
            user: format!("{prefix}:user:"),
        }
    }
    fn agent(&self, u: &str, a: &str) -> String {
        format!("{}{u}:agent:{a}", self.user)
    }
    fn sessions(&self, u: &str, a: &str) -> String {
        format!("{}{u}:agent:{a}:sessions", self.user)
    }
    fn session(&self, u: &str, s: &str) -> String {
        format!("{}{u}:session:{s}", self.user)
    }
    fn messages(&self, u: &str, s: &str) -> String {
        format!("{}{u}:session:{s}:messages", self.user)
    }
    /// The `SCAN MATCH` patterns of the agent sets and the session indexes.
    fn patterns(&self) -> (String, String) {
        let p = glob_escape(&self.user);
        (format!("{p}*:agents"), format!("{p}*:agent:*:sessions"))
    }
    /// The user of an agent-set key.
    fn user_of_agents_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.user.as_str())?
            .strip_suffix(":agents")
            .filter(|u| !u.is_empty())
    }
}

/// Escapes the glob characters of `SCAN MATCH`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The (user, agent) of a session-index key's middle part (`{u}:agent:{a}`): the one split
/// whose user is known, or the only split there is; `None` when ids containing `:agent:`
/// make it ambiguous.
fn split_index_key(middle: &str, known_user: impl Fn(&str) -> bool) -> Option<(&str, &str)> {
    const SEP: &str = ":agent:";
    let splits: Vec<(&str, &str)> = middle
        .match_indices(SEP)
        .map(|(i, _)| (&middle[..i], &middle[i + SEP.len()..]))
        .filter(|(u, a)| !u.is_empty() && !a.is_empty())
        .collect();
    let known: Vec<(&str, &str)> = splits
        .iter()
        .copied()
        .filter(|(u, _)| known_user(u))
        .collect();
    match (known.as_slice(), splits.as_slice()) {
        ([one], _) | ([], [one]) => Some(*one),
        _ => None,
    }
}

/// `url` with its password masked, for messages.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}://{user}:***@{}", &url[..scheme_end], &rest[at + 1..])
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// What to do about a Redis error.
fn hint(e: &redis::RedisError) -> &'static str {
    match e.code() {
        Some("NOAUTH" | "WRONGPASS") => {
            "give the password in the URL (redis://:password@host:port), then run the import again"
        }
        Some("MOVED" | "ASK" | "CROSSSLOT" | "CLUSTERDOWN") => {
            "point the import at a single Redis node: AgentScope's RedisStorage does not use a Cluster"
        }
        Some("NOPERM") => "use a Redis user allowed to SCAN and read every key, then run the import again",
        _ if e.is_io_error() || e.is_connection_dropped() => {
            "the connection broke: run the import again, it resumes where it stopped"
        }
        _ => "check the Redis server's log, then run the import again: it resumes where it stopped",
    }
}

/// The source Redis: one multiplexed connection, every call bounded by the timeout.
struct Source {
    conn: MultiplexedConnection,
    timeout: Duration,
}

impl Source {
    async fn connect(url: &str, options: &ImportOptions) -> Result<Self, ImportError> {
        let client = redis::Client::open(url).map_err(|e| ImportError::InvalidUrl {
            url: redact(url),
            reason: e.to_string(),
        })?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout));
        let connecting = client.get_multiplexed_async_connection_with_config(&config);
        let conn = match tokio::time::timeout(options.timeout, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) if e.code().is_some() => {
                return Err(ImportError::Source {
                    operation: "connecting".to_owned(),
                    reason: e.to_string(),
                    hint: hint(&e),
                })
            }
            Ok(Err(e)) if !e.is_timeout() => {
                return Err(ImportError::Connect {
                    url: redact(url),
                    reason: e.to_string(),
                })
            }
            Ok(Err(_)) | Err(_) => {
                return Err(ImportError::Connect {
                    url: redact(url),
                    reason: format!("no answer within {:?}", options.timeout),
                })
            }
        };
        Ok(Self {
            conn,
            timeout: options.timeout,
        })
    }

    /// Runs one command (or pipeline) within the timeout.
    async fn call<T, F>(&self, operation: impl Fn() -> String, f: F) -> Result<T, ImportError>
    where
        F: AsyncFnOnce(MultiplexedConnection) -> redis::RedisResult<T>,
    {
        match tokio::time::timeout(self.timeout, f(self.conn.clone())).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if e.is_timeout() => Err(ImportError::Timeout {
                operation: operation(),
                after: self.timeout,
            }),
            Ok(Err(e)) => Err(ImportError::Source {
                operation: operation(),
                reason: e.to_string(),
                hint: hint(&e),
            }),
            Err(_) => Err(ImportError::Timeout {
                operation: operation(),
                after: self.timeout,
            }),
        }
    }

    /// Every key matching `pattern`, sorted, each once.
    async fn scan(&self, pattern: &str, count: usize) -> Result<Vec<Vec<u8>>, ImportError> {
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = self
                .call(
                    || format!("SCAN {cursor} MATCH {pattern}"),
                    async |mut c| {
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(pattern)
                            .arg("COUNT")
                            .arg(count)
                            .query_async(&mut c)
                            .await
                    },
                )
                .await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort_unstable();
        keys.dedup(); // SCAN may return a key more than once
        Ok(keys)
    }

    /// `cmd key` for each key in one pipeline; each answer or error on its own.
    async fn each<T: redis::FromRedisValue>(
        &self,
        cmd: &str,
        keys: &[String],
        extra: &[i64],
    ) -> Result<Vec<redis::RedisResult<T>>, ImportError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for key in keys {
            pipe.cmd(cmd).arg(key).arg(extra);
        }
        self.call(
            || format!("{cmd} of {} keys from {}", keys.len(), keys[0]),
            async |mut c| pipe.query_async(&mut c).await,
        )
        .await
    }

    /// `MGET` of the keys.
    async fn mget(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, ImportError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.call(
            || format!("MGET of {} keys from {}", keys.len(), keys[0]),
            async |mut c| redis::cmd("MGET").arg(keys).query_async(&mut c).await,
        )
        .await
    }
}

/// What discovery found: per user, the registered agents and each agent's session ids.
#[derive(Default)]
struct Plan {
    users: BTreeMap<String, UserPlan>,
}

#[derive(Default)]
struct UserPlan {
    /// Ids in the user's agent set.
    agents: Vec<String>,
    /// Session ids per agent (from `…:agent:{a}:sessions`).
    sessions: BTreeMap<String, Vec<String>>,
}

/// A session in the destination, whose history is to be imported.
struct Present {
    user: String,
    agent: String,
    id: String,
}

struct Run<'a> {
    source: Source,
    dest: &'a dyn SessionBackend,
    options: &'a ImportOptions,
    keys: Keys,
    report: ImportReport,
    users_written: HashSet<String>,
}

impl Run<'_> {
    /// Records a problem (or, for a damaged value with [`OnDamaged::Fail`], stops).
    fn issue(
        &mut self,
        kind: IssueKind,
        key: &str,
        detail: impl Into<String>,
    ) -> Result<(), ImportError> {
        let detail = detail.into();
        if matches!(
            kind,
            IssueKind::Damaged | IssueKind::Rejected | IssueKind::Ambiguous
        ) && self.options.on_damaged == OnDamaged::Fail
        {
            return Err(ImportError::Damaged {
                key: key.to_owned(),
                reason: format!("{kind}: {detail}"),
            });
        }
        if self.report.issues.len() < self.options.max_issues {
            self.report.issues.push(ImportIssue {
                kind,
                key: key.to_owned(),
                detail,
            });
        } else {
            self.report.issues_omitted += 1;
        }
        Ok(())
    }

    /// One destination call within the destination timeout. A refusal of the call's input
    /// comes back as `Ok(Err(_))`; an unavailable destination stops the import.
    async fn dest<T>(
        &self,
        operation: impl Fn() -> String,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<Result<T, StoreError>, ImportError> {
        match tokio::time::timeout(self.options.destination_timeout, call).await {
            Err(_) => Err(ImportError::DestinationTimeout {
                operation: operation(),
                after: self.options.destination_timeout,
            }),
            Ok(Err(e)) if e.is_unavailable() => Err(ImportError::Destination {
                operation: operation(),
                source: e,
            }),
            Ok(r) => Ok(r),
        }
    }

    /// A destination call whose every error stops the import.
    async fn dest_ok<T>(
        &self,
        operation: impl Fn() -> String,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ImportError> {
        let op = &operation;
        self.dest(op, call)
            .await?
            .map_err(|source| ImportError::Destination {
                operation: op(),
                source,
            })
    }

    /// Finds the users, their agent sets and their session indexes.
    async fn discover(&mut self) -> Result<Plan, ImportError> {
        let (agents_pattern, sessions_pattern) = self.keys.patterns();
        let count = self.options.scan_count;
        let agent_sets = self.source.scan(&agents_pattern, count).await?;
        let indexes = self.source.scan(&sessions_pattern, count).await?;
        let mut plan = Plan::default();
        // (key, user, agent) of every set to read; agent None for an agent set.
        let mut sets: Vec<(String, String, Option<String>)> = Vec::new();
        for raw in agent_sets {
            let Ok(key) = String::from_utf8(raw) else {
                continue; // not a key RedisStorage wrote (its ids are str)
            };
            if let Some(user) = self.keys.user_of_agents_key(&key) {
                let user = user.to_owned();
                plan.users.entry(user.clone()).or_default();
                sets.push((key, user, None));
            }
        }
        for raw in indexes {
            let Ok(key) = String::from_utf8(raw) else {
                continue;
            };
            let middle = key
                .strip_prefix(self.keys.user.as_str())
                .and_then(|m| m.strip_suffix(":sessions"))
                .unwrap_or_default();
            if let Some((u, a)) = split_index_key(middle, |u| plan.users.contains_key(u)) {
                let (u, a) = (u.to_owned(), a.to_owned());
                plan.users.entry(u.clone()).or_default();
                sets.push((key, u, Some(a)));
            } else {
                let detail =
                    "its user and agent ids cannot be told apart (an id contains `:agent:`)";
                self.issue(IssueKind::Ambiguous, &key, detail)?;
            }
        }
        for chunk in sets.chunks(self.options.batch_size) {
            let keys: Vec<String> = chunk.iter().map(|(k, _, _)| k.clone()).collect();
            let answers: Vec<redis::RedisResult<Vec<Vec<u8>>>> =
                self.source.each("SMEMBERS", &keys, &[]).await?;
            for ((key, user, agent), answer) in chunk.iter().zip(answers) {
                let members = match answer {
                    Ok(m) => m,
                    Err(e) => {
                        self.issue(IssueKind::Damaged, key, format!("not a set: {e}"))?;
                        continue;
                    }
                };
                let mut ids = Vec::with_capacity(members.len());
                for m in members {
                    match String::from_utf8(m) {
                        Ok(id) if !id.is_empty() => ids.push(id),
                        Ok(_) => self.issue(IssueKind::Damaged, key, "an empty id in the set")?,
                        Err(e) => {
                            let detail = format!(
                                "a member is not UTF-8: {:?}",
                                String::from_utf8_lossy(e.as_bytes())
                            );
                            self.issue(IssueKind::Damaged, key, detail)?;
                        }
                    }
                }
                ids.sort_unstable();
                let user_plan = plan.users.entry(user.clone()).or_default();
                match agent {
                    None => user_plan.agents = ids,
                    Some(a) => {
                        user_plan.sessions.insert(a.clone(), ids);
                    }
                }
            }
        }
        Ok(plan)
    }

    /// For the keys whose `MGET` answered nil: how many are gone (dangling), and an issue
    /// for each that holds another type.
    async fn missing(
        &mut self,
        keys: Vec<String>,
        failed: fn(&mut ImportReport),
    ) -> Result<(), ImportError> {
        let types: Vec<redis::RedisResult<String>> = self.source.each("TYPE", &keys, &[]).await?;
        for (key, t) in keys.iter().zip(types) {
            match t.as_deref() {
                Ok("none") => self.report.dangling += 1,
                Ok(t) => {
                    failed(&mut self.report);
                    self.issue(IssueKind::Damaged, key, format!("a {t}, not a string"))?;
                }
                Err(e) => {
                    failed(&mut self.report);
                    self.issue(IssueKind::Damaged, key, e.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// Registers every agent record, per user in order of creation.
    async fn import_agents(&mut self, plan: &Plan) -> Result<(), ImportError> {
        let wanted: Vec<(&str, &str)> = plan
            .users
            .iter()
            .flat_map(|(u, p)| p.agents.iter().map(move |a| (u.as_str(), a.as_str())))
            .collect();
        let mut records: Vec<(String, AgentRecord)> = Vec::new();
        for chunk in wanted.chunks(self.options.batch_size) {
            let keys: Vec<String> = chunk.iter().map(|(u, a)| self.keys.agent(u, a)).collect();
            let values = self.source.mget(&keys).await?;
            let mut missing = Vec::new();
            for (((u, a), key), value) in chunk.iter().zip(keys).zip(values) {
                let Some(raw) = value else {
                    missing.push(key);
                    continue;
                };
                match parse_agent(u, a, &raw) {
                    Ok(record) => records.push((key, record)),
                    Err(reason) => {
                        self.report.agents.failed += 1;
                        self.issue(IssueKind::Damaged, &key, reason)?;
                    }
                }
            }
            self.missing(missing, |r| r.agents.failed += 1).await?;
        }
        // Registration order is the destination's agent order: creation order, as AgentScope
        // shows them.
        records.sort_by(|(_, x), (_, y)| {
            (&x.user_id, x.created_at, &x.id).cmp(&(&y.user_id, y.created_at, &y.id))
        });
        for (key, record) in records {
            let (user, id) = (record.user_id.clone(), record.id.clone());
            let op = || format!("register_agent for {key}");
            match self
                .dest(op, self.dest.register_agent(record.clone()))
                .await?
            {
                Ok(_) => {
                    self.report.agents.imported += 1;
                    self.users_written.insert(user);
                }
                Err(StoreError::DuplicateAgent { .. }) => {
                    self.report.agents.skipped += 1;
                    let op = || format!("agent for {key}");
                    let existing = self.dest_ok(op, self.dest.agent(&user, &id)).await?;
                    if existing.as_deref() != Some(&record) {
                        let detail = "already in the destination with other content; left as it is";
                        self.issue(IssueKind::Differs, &key, detail)?;
                    }
                }
                Err(e) => {
                    self.report.agents.failed += 1;
                    self.issue(IssueKind::Rejected, &key, e.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// Inserts every session record; returns the sessions now in the destination.
    async fn import_sessions(&mut self, plan: &mut Plan) -> Result<Vec<Present>, ImportError> {
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        for (u, p) in &mut plan.users {
            for (a, ids) in std::mem::take(&mut p.sessions) {
                wanted.extend(ids.into_iter().map(|s| (u.clone(), a.clone(), s)));
            }
        }
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut present = Vec::new();
        for chunk in wanted.chunks(self.options.batch_size) {
            let keys: Vec<String> = chunk
                .iter()
                .map(|(u, _, s)| self.keys.session(u, s))
                .collect();
            let values = self.source.mget(&keys).await?;
            let mut missing = Vec::new();
            for (((u, a, s), key), value) in chunk.iter().zip(keys).zip(values) {
                let Some(raw) = value else {
                    missing.push(key);
                    continue;
                };
                let record = match parse_session(u, s, &raw) {
                    Ok(r) => r,
                    Err(reason) => {
                        self.report.sessions.failed += 1;
                        self.issue(IssueKind::Damaged, &key, reason)?;
                        continue;
                    }
                };
                if record.agent_id != *a {
                    let detail = format!(
                        "listed in {} but its record names agent {:?}; imported under that agent",
                        self.keys.sessions(u, a),
                        record.agent_id
                    );
                    self.issue(IssueKind::Misfiled, &key, detail)?;
                }
                // One record key per (user, session): listed under two agents, it is one session.
                if !seen.insert((u.clone(), s.clone())) {
                    continue;
                }
                if self.insert_session(&key, record.clone()).await? {
                    present.push(Present {
                        user: record.user_id,
                        agent: record.agent_id,
                        id: record.id,
                    });
                }
            }
            self.missing(missing, |r| r.sessions.failed += 1).await?;
        }
        Ok(present)
    }

    /// Inserts one session; whether it is now in the destination.
    async fn insert_session(
        &mut self,
        key: &str,
        record: SessionRecord,
    ) -> Result<bool, ImportError> {
        let op = || format!("insert for {key}");
        match self.dest(op, self.dest.insert(record.clone())).await? {
            Ok(_) => {
                self.report.sessions.imported += 1;
                self.users_written.insert(record.user_id);
                Ok(true)
            }
            Err(StoreError::DuplicateId { .. }) => {
                self.report.sessions.skipped += 1;
                let op = || format!("get for {key}");
                let call = self.dest.get(&record.user_id, &record.agent_id, &record.id);
                let existing = self.dest_ok(op, call).await?;
                if existing.is_none_or(|v| *v.record != record) {
                    let detail = "already in the destination with other content; left as it is";
                    self.issue(IssueKind::Differs, key, detail)?;
                }
                Ok(true)
            }
            Err(e) => {
                self.report.sessions.failed += 1;
                self.issue(IssueKind::Rejected, key, e.to_string())?;
                Ok(false)
            }
        }
    }

    /// Imports (or resumes) every present session's history.
    async fn import_messages(&mut self, present: &[Present]) -> Result<(), ImportError> {
        let batch = self.options.batch_size;
        for chunk in present.chunks(batch) {
            let keys: Vec<String> = chunk
                .iter()
                .map(|p| self.keys.messages(&p.user, &p.id))
                .collect();
            let lens: Vec<redis::RedisResult<usize>> = self.source.each("LLEN", &keys, &[]).await?;
            // Histories to fetch: (index in chunk, length); small ones share a pipeline.
            let mut todo: Vec<(usize, usize)> = Vec::new();
            for (i, len) in lens.into_iter().enumerate() {
                match len {
                    Ok(n) => todo.push((i, n)),
                    Err(e) => {
                        self.issue(IssueKind::Damaged, &keys[i], format!("not a list: {e}"))?;
                    }
                }
            }
            let mut histories: Vec<Option<Vec<Vec<u8>>>> = vec![None; chunk.len()];
            let mut group: Vec<(usize, usize)> = Vec::new();
            let mut group_len = 0;
            for &(i, n) in &todo {
                if n > batch {
                    histories[i] = Some(self.fetch_long(&keys[i], n).await?);
                    continue;
                }
                if group_len + n > batch {
                    self.fetch_group(&keys, &mut group, &mut histories).await?;
                    group_len = 0;
                }
                group.push((i, n));
                group_len += n;
            }
            self.fetch_group(&keys, &mut group, &mut histories).await?;
            for ((p, key), history) in chunk.iter().zip(&keys).zip(histories) {
                if let Some(history) = history {
                    self.resume_history(p, key, &history).await?;
                }
            }
        }
        Ok(())
    }

    /// Fetches the histories of a group of short lists in one pipeline.
    async fn fetch_group(
        &mut self,
        keys: &[String],
        group: &mut Vec<(usize, usize)>,
        histories: &mut [Option<Vec<Vec<u8>>>],
    ) -> Result<(), ImportError> {
        if group.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for &(i, n) in group.iter() {
            pipe.cmd("LRANGE")
                .arg(&keys[i])
                .arg(0)
                .arg(n.saturating_sub(1));
        }
        let first = &keys[group[0].0];
        let answers: Vec<redis::RedisResult<Vec<Vec<u8>>>> = self
            .source
            .call(
                || format!("LRANGE of {} lists from {first}", group.len()),
                async |mut c| pipe.query_async(&mut c).await,
            )
            .await?;
        for (&(i, n), answer) in group.iter().zip(answers) {
            match answer {
                // An empty list answers LRANGE 0 0 with nothing.
                Ok(list) => histories[i] = Some(if n == 0 { Vec::new() } else { list }),
                Err(e) => self.issue(IssueKind::Damaged, &keys[i], format!("not a list: {e}"))?,
            }
        }
        group.clear();
        Ok(())
    }

    /// Fetches a long history in chunks of the batch size.
    async fn fetch_long(&self, key: &str, len: usize) -> Result<Vec<Vec<u8>>, ImportError> {
        let batch = self.options.batch_size;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let start = out.len();
            let stop = (start + batch).min(len) - 1;
            let part: Vec<Vec<u8>> = self
                .source
                .call(
                    || format!("LRANGE {key} {start} {stop}"),
                    async |mut c| {
                        redis::cmd("LRANGE")
                            .arg(key)
                            .arg(start)
                            .arg(stop)
                            .query_async(&mut c)
                            .await
                    },
                )
                .await?;
            if part.is_empty() {
                break; // the list shrank meanwhile
            }
            out.extend(part);
        }
        Ok(out)
    }

    /// Appends what the destination's history lacks of `raw` (see [`import_agentscope_redis`]).
    async fn resume_history(
        &mut self,
        session: &Present,
        key: &str,
        raw: &[Vec<u8>],
    ) -> Result<(), ImportError> {
        // The importable prefix: up to the first damaged message.
        let mut source: Vec<Msg> = Vec::with_capacity(raw.len());
        for (i, bytes) in raw.iter().enumerate() {
            let problem = match parse_msg(bytes) {
                Ok(m) if source.last().is_some_and(|l: &Msg| l.id == m.id) => {
                    "the same id as the message before it (AgentScope rewrites a repeated id in place, so a history never holds one twice in a row)".to_owned()
                }
                Ok(m) => {
                    source.push(m);
                    continue;
                }
                Err(reason) => reason,
            };
            self.report.messages.failed += (raw.len() - i) as u64;
            let detail = format!(
                "{problem}; it and the {} after it were not imported",
                raw.len() - i - 1
            );
            self.issue(IssueKind::Damaged, &format!("{key}[{i}]"), detail)?;
            break;
        }
        let (u, a, s) = (
            session.user.as_str(),
            session.agent.as_str(),
            session.id.as_str(),
        );
        let op = || format!("message_count for {key}");
        let have = self.dest_ok(op, self.dest.message_count(u, a, s)).await?;
        let mut diverged = have > source.len();
        let mut replace_last = false;
        if have > 0 && !diverged {
            let op = || format!("messages for {key}");
            let theirs = self
                .dest_ok(op, self.dest.messages(u, a, s, 0, have))
                .await?;
            let last = have - 1;
            diverged = theirs.len() != have
                || theirs[..last].iter().zip(&source).any(|(t, m)| **t != *m)
                || theirs[last].id != source[last].id;
            replace_last = !diverged && *theirs[last] != source[last];
        }
        if diverged {
            self.report.messages.failed += source.len() as u64;
            let detail = format!(
                "the destination's history ({have} messages) is not a prefix of the source's ({}); left as it is",
                source.len()
            );
            return self.issue(IssueKind::Diverged, key, detail);
        }
        let from = if replace_last { have - 1 } else { have };
        self.report.messages.skipped += from as u64;
        for (index, msg) in source.into_iter().enumerate().skip(from) {
            let op = || format!("append_message for {key}[{index}]");
            match self
                .dest(op, self.dest.append_message(u, a, s, msg))
                .await?
            {
                Ok(at) if at == index => {
                    self.report.messages.imported += 1;
                    if index < have {
                        self.report.messages_replaced += 1;
                    }
                    self.users_written.insert(session.user.clone());
                }
                Ok(at) => {
                    let detail = format!("written at index {at}, not {index}: the destination's history changed meanwhile; stopped there");
                    return self.issue(IssueKind::Diverged, key, detail);
                }
                Err(err) => {
                    self.report.messages.failed += (raw.len() - index) as u64;
                    let detail = format!("{err}; it and the messages after it were not imported");
                    return self.issue(IssueKind::Rejected, &format!("{key}[{index}]"), detail);
                }
            }
        }
        Ok(())
    }
}

/// Parses a value that must be a JSON object with these string fields (the identity fields:
/// were they missing, the model would invent them, differently on every run).
fn parse<T: DeserializeOwned>(raw: &[u8], required: &[&str]) -> Result<T, String> {
    let value: Value = serde_json::from_slice(raw).map_err(|e| format!("not JSON: {e}"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    for field in required {
        match object.get(*field) {
            Some(Value::String(_)) => {}
            Some(_) => return Err(format!("wrong shape: `{field}` is not a string")),
            None => return Err(format!("wrong shape: no `{field}`")),
        }
    }
    T::deserialize(&value).map_err(|e| format!("wrong shape: {e}"))
}

fn parse_agent(user: &str, id: &str, raw: &[u8]) -> Result<AgentRecord, String> {
    let record: AgentRecord = parse(raw, &["id", "user_id", "created_at", "updated_at"])?;
    check_ids(&[("id", &record.id, id), ("user_id", &record.user_id, user)])?;
    Ok(record)
}

fn parse_session(user: &str, id: &str, raw: &[u8]) -> Result<SessionRecord, String> {
    let required = ["id", "user_id", "agent_id", "created_at", "updated_at"];
    let record: SessionRecord = parse(raw, &required)?;
    check_ids(&[("id", &record.id, id), ("user_id", &record.user_id, user)])?;
    Ok(record)
}

fn parse_msg(raw: &[u8]) -> Result<Msg, String> {
    parse(raw, &["id", "created_at"])
}

/// Refuses a record whose ids disagree with its key.
fn check_ids(pairs: &[(&str, &str, &str)]) -> Result<(), String> {
    for (field, value, from_key) in pairs {
        if value != from_key {
            return Err(format!(
                "its {field} is {value:?} but its key says {from_key:?}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_split_at_the_known_user() {
        let none = |_: &str| false;
        assert_eq!(split_index_key("u:agent:a", none), Some(("u", "a")));
        assert_eq!(split_index_key("u:agent:a:agent:b", none), None);
        let known = |u: &str| u == "u:agent:a";
        assert_eq!(
            split_index_key("u:agent:a:agent:b", known),
            Some(("u:agent:a", "b"))
        );
        assert_eq!(split_index_key(":agent:a", none), None);
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(redact("redis://:secret@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact("redis://me:secret@h"), "redis://me:***@h");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn scan_patterns_escape_globs() {
        let k = Keys::new("a*b");
        assert_eq!(k.patterns().0, "a\\*b:user:*:agents");
        assert_eq!(k.user_of_agents_key("a*b:user:u:1:agents"), Some("u:1"));
    }

    #[test]
    fn identity_fields_are_required() {
        let err = parse_msg(br#"{"name":"n","content":[],"created_at":"x"}"#).unwrap_err();
        assert!(err.contains("no `id`"), "{err}");
        assert!(parse_msg(b"nope").unwrap_err().starts_with("not JSON"));
    }
}
