//! A server for tests: on `127.0.0.1:0`, on a thread of its own, stopped on drop.

use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use super::{router_with, serve_router_with, Options};
use crate::{SessionBackend, SessionStore};

/// How long a dropped server waits for requests in flight before it stops anyway.
const GRACE: Duration = Duration::from_secs(5);

/// The HTTP server on a free loopback port, over a backend the test keeps a handle to: a
/// [`SessionStore`] by default, or any cloneable [`SessionBackend`] (a Redis backend, say).
///
/// It runs on a Tokio runtime of its own, on its own thread, so plain `#[test]` functions (no
/// async runtime) can use it with any HTTP client. Dropping it stops the server: requests in
/// flight finish (for up to five seconds), then the thread is joined.
///
/// ```
/// use agent_sessions::{model::AgentRecord, server::TestServer, SessionStore};
/// let server = TestServer::start(SessionStore::new())?;
/// let agent = server.store().register_agent(AgentRecord::new("user-1", Default::default())).unwrap();
/// let url = format!("{}/sessions/?agent_id={}", server.base_url(), agent.id);
/// assert!(url.starts_with("http://127.0.0.1:"));
/// // ... send requests with any client; the answers see what the store holds ...
/// drop(server); // stopped
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TestServer<B = SessionStore> {
    addr: SocketAddr,
    store: B,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl<B: SessionBackend + Clone + 'static> TestServer<B> {
    /// Starts a server over `store` with the default [`Options`]; returns once it accepts
    /// connections.
    pub fn start(store: B) -> io::Result<Self> {
        Self::start_with(store, &Options::default())
    }

    /// Starts a server over `store` with `options`.
    pub fn start_with(store: B, options: &Options) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("agent-sessions-test-server")
            .enable_all()
            .build()?;
        let app = router_with(store.clone(), options);
        let options = options.clone();
        let (stop, mut stopped) = watch::channel(false);
        let mut grace = stop.subscribe();
        let thread = std::thread::Builder::new()
            .name("agent-sessions-test-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    let shutdown = async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    };
                    tokio::select! {
                        served = serve_router_with(listener, app, &options, shutdown) => served,
                        () = async {
                            let _ = grace.wait_for(|s| *s).await;
                            tokio::time::sleep(GRACE).await;
                        } => Ok(()),
                    }
                })
            })?;
        Ok(Self {
            addr,
            store,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store the server serves: what the test writes here, the server answers.
    pub fn store(&self) -> &B {
        &self.store
    }
}

impl<B> Drop for TestServer<B> {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
