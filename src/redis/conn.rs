//! Connections to a standalone server or a Cluster, made lazily and remade by themselves, and
//! the mapping of every Redis failure to [`StoreError::Unavailable`].
//!
//! - Standalone: a [`ConnectionManager`] made without connecting
//!   ([`ConnectionManager::new_lazy_with_config`]); it connects on first use and reconnects in
//!   the background after a connection fails (I/O error, dropped connection).
//! - Cluster: a [`ClusterConnection`] made on first use (while no node answers, every call
//!   fails with `Unavailable` and the next call tries again); once made, it follows slot
//!   moves and reconnects to nodes by itself.
//!
//! Both have connection and response timeouts set to the backend's timeout, and the backend
//! bounds every call with `tokio::time::timeout` as well.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, RedisError, ScriptInvocation, Value};

use crate::StoreError;

/// A standalone or Cluster connection; cheap to clone.
#[derive(Clone)]
pub(crate) enum Conn {
    Standalone(ConnectionManager),
    Cluster(Arc<LazyCluster>),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conn::Standalone(_) => f.write_str("Standalone"),
            Conn::Cluster(c) => f.debug_tuple("Cluster").field(&c.nodes).finish(),
        }
    }
}

/// A Cluster connection made on first use.
pub(crate) struct LazyCluster {
    client: ClusterClient,
    /// The nodes it was given, for `Debug`.
    nodes: Vec<String>,
    /// The connection, once made. Locked only to clone or store it, never across `.await`.
    conn: parking_lot::Mutex<Option<ClusterConnection>>,
}

impl LazyCluster {
    async fn get(&self) -> Result<ClusterConnection, RedisError> {
        let cached = self.conn.lock().clone();
        if let Some(conn) = cached {
            return Ok(conn);
        }
        let made = self.client.get_async_connection().await?;
        // Another call may have connected meanwhile: keep the first.
        Ok(self.conn.lock().get_or_insert(made).clone())
    }
}

impl Conn {
    /// A standalone connection to `url` (`redis://HOST:PORT[/DB]`), not yet connected.
    pub(crate) fn standalone(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Unavailable {
            reason: format!("invalid Redis URL {url:?}: {e}"),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // A failed connection attempt is retried once, briefly; after that the call fails
            // and the next call starts a new attempt.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let manager =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|e| unavailable(&e))?;
        Ok(Conn::Standalone(manager))
    }

    /// A Cluster connection seeded with `urls`, made on first use.
    pub(crate) fn cluster(urls: &[&str], timeout: Duration) -> Result<Self, StoreError> {
        let client = ClusterClientBuilder::new(urls.to_vec())
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .build()
            .map_err(|e| StoreError::Unavailable {
                reason: format!("invalid Redis Cluster URLs {urls:?}: {e}"),
            })?;
        Ok(Conn::Cluster(Arc::new(LazyCluster {
            client,
            nodes: urls.iter().map(|u| (*u).to_owned()).collect(),
            conn: parking_lot::Mutex::new(None),
        })))
    }

    /// Runs a script (`EVALSHA`, loading it if the server does not have it).
    pub(crate) async fn script(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<Value, StoreError> {
        let result = match self {
            Conn::Standalone(m) => invocation.invoke_async(&mut m.clone()).await,
            Conn::Cluster(c) => match c.get().await {
                Ok(mut conn) => invocation.invoke_async(&mut conn).await,
                Err(e) => Err(e),
            },
        };
        result.map_err(|e| unavailable(&e))
    }

    /// Runs one command.
    pub(crate) async fn command(&self, cmd: &Cmd) -> Result<Value, StoreError> {
        let result = match self {
            Conn::Standalone(m) => cmd.query_async(&mut m.clone()).await,
            Conn::Cluster(c) => match c.get().await {
                Ok(mut conn) => cmd.query_async(&mut conn).await,
                Err(e) => Err(e),
            },
        };
        result.map_err(|e| unavailable(&e))
    }
}

/// Every Redis failure (connection, I/O, timeout, cluster down, a script error) is
/// `Unavailable`: the caller cannot fix it by changing the call.
pub(crate) fn unavailable(e: &RedisError) -> StoreError {
    StoreError::Unavailable {
        reason: format!("Redis: {e}"),
    }
}
