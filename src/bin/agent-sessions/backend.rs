//! Which store a command works on: `--data-dir`, `--redis`, `--redis-cluster`, or memory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_sessions::model::TimestampFormat;
use agent_sessions::{SessionBackend, SessionStore};

/// The store flags, shared by `serve` and `import`; at most one may be given.
#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    /// Keep the sessions in this directory (created if needed), so a restart keeps them.
    #[arg(long, value_name = "DIR", group = "store")]
    pub data_dir: Option<PathBuf>,
    /// Keep the sessions in Redis (or Valkey): redis://HOST:PORT[/DB]. Several servers on one
    /// Redis serve the same sessions.
    #[arg(long, value_name = "URL", group = "store")]
    pub redis: Option<String>,
    /// Keep the sessions in a Redis Cluster: one or more node URLs, comma-separated.
    #[arg(
        long,
        value_name = "URL[,URL...]",
        group = "store",
        value_delimiter = ','
    )]
    pub redis_cluster: Option<Vec<String>>,
    /// How long a Redis call may take before it fails (503 over HTTP), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,
    /// The prefix of every Redis key, so that several stores can share one Redis.
    #[arg(long, value_name = "PREFIX", default_value = "as")]
    pub redis_prefix: String,
}

/// An opened store: the backend to serve, and the directory store to close afterwards.
pub struct Opened {
    pub backend: Arc<dyn SessionBackend>,
    /// Set for an in-memory or directory store.
    pub store: Option<SessionStore>,
    /// What it is, for the log line.
    pub description: String,
}

impl Opened {
    /// Lets go of the backend and closes a directory store (a last snapshot, a flush).
    pub fn close(self) -> Result<(), String> {
        drop(self.backend);
        match self.store {
            Some(store) => store
                .close()
                .map_err(|e| format!("cannot close the store: {e}")),
            None => Ok(()),
        }
    }
}

/// Logs what opening a directory repaired: a torn journal tail dropped (writes that were
/// never acknowledged), temp files of interrupted writes removed.
fn report_recovery(store: &SessionStore) {
    let Some(recovery) = store.recovery() else {
        return;
    };
    if let Some(torn) = &recovery.torn_tail {
        tracing::warn!(
            journal = %torn.path.display(),
            line = torn.line,
            bytes = torn.bytes,
            "dropped the journal's last line, cut short by a crash (a write never acknowledged)"
        );
    }
    if !recovery.temp_files_removed.is_empty() {
        tracing::info!(
            files = ?recovery.temp_files_removed,
            "removed temp files of interrupted writes"
        );
    }
}

impl StoreArgs {
    /// Opens the store the flags name (memory when none).
    pub async fn open(&self) -> Result<Opened, String> {
        self.open_with(TimestampFormat::default()).await
    }

    /// Opens the store the flags name (memory when none); an in-memory or directory store
    /// writes record timestamps in `timestamps`.
    pub async fn open_with(&self, timestamps: TimestampFormat) -> Result<Opened, String> {
        if let Some(dir) = &self.data_dir {
            let store = SessionStore::builder()
                .timestamp_format(timestamps)
                .open(dir)
                .map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
            report_recovery(&store);
            return Ok(Opened {
                backend: Arc::new(store.clone()),
                store: Some(store),
                description: format!("directory {}", dir.display()),
            });
        }
        if self.redis.is_some() || self.redis_cluster.is_some() {
            return self.open_redis().await;
        }
        let store = SessionStore::builder().timestamp_format(timestamps).build();
        Ok(Opened {
            backend: Arc::new(store.clone()),
            store: Some(store),
            description: "memory".into(),
        })
    }

    /// Whether a store was named (else memory).
    pub fn is_given(&self) -> bool {
        self.data_dir.is_some() || self.redis.is_some() || self.redis_cluster.is_some()
    }

    #[cfg(feature = "redis")]
    async fn open_redis(&self) -> Result<Opened, String> {
        use agent_sessions::redis::RedisBackend;
        let builder = RedisBackend::builder().timeout(Duration::from_millis(self.redis_timeout_ms));
        let (backend, description) = match (&self.redis, &self.redis_cluster) {
            (Some(url), _) => (builder.connect(url).await, format!("redis {url}")),
            (None, Some(urls)) => (
                builder.connect_cluster(urls).await,
                format!("redis cluster {}", urls.join(",")),
            ),
            (None, None) => return Err("no Redis URL was given".into()),
        };
        let backend = backend.map_err(|e| format!("cannot use {description}: {e}"))?;
        Ok(Opened {
            backend: Arc::new(backend),
            store: None,
            description,
        })
    }

    #[cfg(not(feature = "redis"))]
    #[allow(clippy::unused_async)] // async like the Redis one it stands in for
    async fn open_redis(&self) -> Result<Opened, String> {
        let _ = (
            Duration::from_millis(self.redis_timeout_ms),
            &self.redis_prefix,
        );
        Err(
            "this agent-sessions was built without Redis: rebuild it with \
             `--features server,redis`"
                .into(),
        )
    }
}
