//! The server's accept loop: hyper's HTTP/1 connections with the limits of [`Options`].
//!
//! - At most [`Options::max_connections`] connections are open at once; beyond that the loop
//!   stops accepting (new clients wait in the kernel's backlog), so stalled clients can never
//!   take every file descriptor.
//! - A request head must arrive in full within [`Options::request_head_timeout`] (hyper's
//!   `header_read_timeout`, counted from when the connection opened or finished its last
//!   answer), else the connection is closed.
//! - A connection with no request in flight and no byte received for
//!   [`Options::idle_timeout`] is closed.
//! - On shutdown the loop stops accepting; connections with no request in flight (idle, or
//!   stalled in the middle of a head) are closed at once; requests in flight finish, for up to
//!   [`Options::shutdown_timeout`], after which what is left is dropped.
//!
//! The body read timeout is the handlers' (`extract.rs`): a body must arrive in full within
//! [`Options::body_read_timeout`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt as _;

use super::Options;

/// What one connection shares with its watchdog: requests in flight, and when it was last
/// active (a byte received, an answer written).
struct Activity {
    in_flight: AtomicUsize,
    /// When the connection opened.
    opened: Instant,
    /// Milliseconds from `opened` to its last activity.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            opened: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    /// Notes activity now.
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(ms, Ordering::AcqRel);
    }

    /// When the connection was last active.
    fn last_active(&self) -> Instant {
        self.opened + Duration::from_millis(self.last.load(Ordering::Acquire))
    }
}

/// Runs `app` on `listener` with `options`' connection limits until `shutdown` completes.
pub(super) async fn run<F>(
    listener: TcpListener,
    app: Router,
    options: &Options,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let limits = Limits::from(options);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was accepted: wait a
                    // little and go on; the loop must never end on a client's doing.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let stopping = stopping.clone();
        connections.spawn(async move {
            connection(stream, app, limits, stopping).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "shutdown timeout: closing the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// The limits a connection needs, copied out of [`Options`].
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_connections: usize,
    request_head_timeout: Duration,
    idle_timeout: Duration,
    shutdown_timeout: Duration,
}

impl From<&Options> for Limits {
    fn from(o: &Options) -> Self {
        Self {
            max_connections: o.max_connections,
            request_head_timeout: o.request_head_timeout,
            idle_timeout: o.idle_timeout,
            shutdown_timeout: o.shutdown_timeout,
        }
    }
}

/// Serves one connection until it closes, times out, or the server stops.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Counted {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let seen = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let app = app.clone();
        let guard = InFlight::enter(Arc::clone(&seen));
        async move {
            let response = app.oneshot(request.map(Body::new)).await;
            // The guard goes with the response's body: the request is in flight until its
            // answer is written.
            response.map(|r| {
                r.map(|body| {
                    Body::new(Guarded {
                        body,
                        _guard: guard,
                    })
                })
            })
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_head_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        // While a request is in flight, look again a timeout later; else when the timeout
        // since the last activity ends.
        let idle_until = if activity.in_flight.load(Ordering::Acquire) > 0 {
            Instant::now() + limits.idle_timeout
        } else {
            activity.last_active() + limits.idle_timeout
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            changed = stopping.changed(), if !closing => {
                let _ = changed;
                if activity.in_flight.load(Ordering::Acquire) == 0 {
                    return; // idle, or stalled in a head: closed now
                }
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = tokio::time::sleep_until(idle_until) => {
                let idle = activity.in_flight.load(Ordering::Acquire) == 0
                    && Instant::now() >= activity.last_active() + limits.idle_timeout;
                if idle {
                    return; // nothing in flight, nothing received for the whole timeout
                }
            }
        }
    }
}

/// Counts a connection's request in flight for as long as it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted in flight until it is dropped (written).
struct Guarded {
    body: Body,
    _guard: InFlight,
}

impl hyper::body::Body for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, noting when it receives bytes.
struct Counted {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}
