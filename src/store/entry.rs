//! One stored version of a session: the record, its cached JSON and its version.

use std::sync::Arc;

use crate::encode::Marks;
use crate::model::{SessionRecord, TimestampFormat};
use crate::{StoreError, Versioned};

/// An immutable version of one session. Writers replace the whole `Arc<Entry>`; readers never
/// see a half-applied change.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) record: Arc<SessionRecord>,
    /// The record's compact JSON: `serde_json::to_vec(&*record)`, computed once per version.
    pub(crate) json: Arc<[u8]>,
    /// Unique in the store and growing with every write (see `Versioned`).
    pub(crate) version: u64,
    /// Where `updated_at` and `state.context` are in `json`, for a spliced append
    /// (`splice.rs`); `None` sends appends down the plain path.
    pub(crate) marks: Option<Marks>,
}

impl Entry {
    /// Encodes `record` (outside any lock) with its timestamps in `format` (the store's
    /// setting, which the kept record carries), and checks it against the size limit.
    pub(crate) fn encode(
        mut record: SessionRecord,
        version: u64,
        max_record_bytes: usize,
        format: TimestampFormat,
    ) -> Result<Self, StoreError> {
        record.timestamp_format = format;
        let (json, marks) = crate::encode::encode_record_marked(&record, max_record_bytes)?;
        Ok(Self {
            record: Arc::new(record),
            json: Arc::from(json),
            version,
            marks,
        })
    }

    /// A version loaded with its stored JSON, which this encoder wrote for `record` in
    /// `format` (see `persist::fingerprint`): kept as the cached JSON, not encoded again.
    /// Without marks, the first append takes the plain path.
    pub(crate) fn kept(
        mut record: SessionRecord,
        version: u64,
        json: &[u8],
        format: TimestampFormat,
    ) -> Self {
        record.timestamp_format = format;
        Self {
            record: Arc::new(record),
            json: Arc::from(json),
            version,
            marks: None,
        }
    }

    /// The record with its version, as the store answers them.
    pub(crate) fn versioned(&self) -> Versioned {
        Versioned {
            record: Arc::clone(&self.record),
            version: self.version,
        }
    }

    /// The `updated_at` of the version after this one: now, never before this one's.
    pub(crate) fn next_updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        crate::model::now().max(self.record.updated_at)
    }

    /// The session id.
    pub(crate) fn id(&self) -> &str {
        &self.record.id
    }

    pub(crate) fn created_micros(&self) -> i64 {
        self.record.created_at.timestamp_micros()
    }

    pub(crate) fn updated_micros(&self) -> i64 {
        self.record.updated_at.timestamp_micros()
    }
}
