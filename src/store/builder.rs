//! The store's builder: limits, with their defaults.

use super::SessionStore;

/// Builds a [`SessionStore`] with limits other than the defaults.
///
/// ```
/// use agent_sessions::{NewSession, SessionStore, StoreError};
/// let store = SessionStore::builder().max_id_bytes(8).max_record_bytes(64 * 1024).build();
/// let err = store.create(NewSession::new("a-long-user-id", "a")).unwrap_err();
/// assert!(matches!(err, StoreError::IdTooLong { field: "user_id", .. }));
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SessionStoreBuilder {
    pub(super) max_id_bytes: usize,
    pub(super) max_record_bytes: usize,
}

impl Default for SessionStoreBuilder {
    fn default() -> Self {
        Self {
            max_id_bytes: Self::DEFAULT_MAX_ID_BYTES,
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

impl SessionStoreBuilder {
    /// The default [`max_id_bytes`](Self::max_id_bytes): 1 KiB.
    pub const DEFAULT_MAX_ID_BYTES: usize = 1024;
    /// The default [`max_record_bytes`](Self::max_record_bytes): 16 MiB.
    pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

    /// The longest `user_id`, `agent_id` or session `id` accepted, in bytes (default 1 KiB).
    pub fn max_id_bytes(mut self, limit: usize) -> Self {
        self.max_id_bytes = limit;
        self
    }

    /// The largest record accepted, measured as its compact JSON, in bytes (default 16 MiB).
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    /// The store.
    pub fn build(self) -> SessionStore {
        SessionStore::from_builder(&self)
    }
}
