//! The background thread of a durable store: fsyncs the journal under
//! [`FsyncPolicy::Every`] and takes autosave snapshots. It runs while a handle of the store
//! exists: [`Handles`], shared by the handles alone, stops it when the last one goes.

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{SessionStore, SessionStoreBuilder};
use crate::persist::io_error;
use crate::{FsyncPolicy, StoreError};

/// What the handles of a store share, and the background thread does not: dropped with the
/// last handle, it stops the thread and waits for it.
#[derive(Debug, Default)]
pub(super) struct Handles {
    /// The background thread, and the sender whose drop stops it.
    maintenance: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl Handles {
    /// Stops the background thread, if it runs, and waits for what it is doing (a snapshot)
    /// to end.
    fn stop(&self) {
        let running = self.maintenance.lock().take();
        if let Some((stop, thread)) = running {
            drop(stop);
            // A panic in the thread has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Drop for Handles {
    fn drop(&mut self) {
        self.stop();
    }
}

impl SessionStore {
    /// Starts the thread that fsyncs under [`FsyncPolicy::Every`] and autosaves. It holds only
    /// a weak reference, and ends when the store is dropped or closed.
    pub(super) fn spawn_maintenance(
        &self,
        b: &SessionStoreBuilder,
        dir: &Path,
    ) -> Result<(), StoreError> {
        let fsync_every = match b.fsync {
            FsyncPolicy::Every(d) => Some(d),
            _ => None,
        };
        let autosave = b.autosave;
        let Some(tick) = [fsync_every, autosave].into_iter().flatten().min() else {
            return Ok(());
        };
        let tick = tick.max(Duration::from_millis(1));
        let (stop, stopped) = mpsc::channel::<()>();
        let weak = Arc::downgrade(&self.inner);
        let thread = std::thread::Builder::new()
            .name("agent-sessions-maintenance".into())
            .spawn(move || {
                let (mut last_sync, mut last_save) = (Instant::now(), Instant::now());
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    let Some(inner) = weak.upgrade() else { return };
                    if fsync_every.is_some_and(|d| last_sync.elapsed() >= d) {
                        // A failure poisons the journal; writers see it.
                        let _ = inner.flush();
                        last_sync = Instant::now();
                    }
                    if autosave.is_some_and(|d| last_save.elapsed() >= d) {
                        if inner.has_unsaved_changes() {
                            // On failure the journal still holds every change, and the
                            // next round tries again.
                            if let Err(e) = inner.snapshot() {
                                #[cfg(feature = "server")]
                                tracing::warn!(
                                    error = %e,
                                    "autosave failed; the journal still holds every change"
                                );
                                #[cfg(not(feature = "server"))]
                                let _ = e;
                            }
                        }
                        last_save = Instant::now();
                    }
                }
            })
            .map_err(io_error(dir))?;
        *self.handles.maintenance.lock() = Some((stop, thread));
        Ok(())
    }

    /// Stops the background thread and waits for what it is doing (a snapshot) to end.
    pub(super) fn stop_maintenance(&self) {
        self.handles.stop();
    }
}
