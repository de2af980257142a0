//! Whether a snapshot's record bytes can be served as they are stored.
//!
//! A shard file holds each record's compact JSON exactly as the store cached it. `open` may
//! keep those bytes as the record's cached JSON, instead of parsing the record and encoding
//! it again, when two things hold:
//!
//! - **The same encoder wrote them.** The manifest carries the [`encoder_fingerprint`] of the
//!   store that wrote its shards: a hash of what this crate's record encoder makes of a set of
//!   canary records (both AgentScope shapes, escapes, non-ASCII text, numbers at the edges of
//!   what JSON and `f64` can hold, unknown fields) in the store's timestamp format, and of
//!   [`ENCODING_REVISION`]. Another crate version whose encoder writes any canary differently,
//!   or another timestamp format, gives another fingerprint.
//! - **The file is as it was written.** Each shard's entry in the manifest carries the
//!   [`checksum`] of the file's bytes; a file changed since (by hand, or by damage that still
//!   parses) does not match.
//!
//! Anything else is parsed and encoded again, as before, and its shard is written anew by the
//! next snapshot.

use std::sync::OnceLock;

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::encode::encode_record;
use crate::model::{SessionRecord, TimestampFormat};

/// Raised by hand whenever the record encoder's output changes for some record, in a way the
/// canaries below might not show.
pub(crate) const ENCODING_REVISION: u64 = 1;

/// Records whose encoding stands for the encoder's: see the module's docs.
const CANARIES: &str = include_str!("fingerprint_canary.json");

/// The checksum of a snapshot file's bytes (XXH3, 64 bits: a specified hash, the same on
/// every platform and crate version).
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

/// The fingerprint of this crate's record encoder with timestamps in `format`; `None` (no
/// stored bytes are ever kept) if a canary failed to parse or encode, which a test rules out.
/// Computed once per format per process: it cannot change while the process runs.
pub(crate) fn encoder_fingerprint(format: TimestampFormat) -> Option<u64> {
    static RFC3339: OnceLock<Option<u64>> = OnceLock::new();
    static NAIVE: OnceLock<Option<u64>> = OnceLock::new();
    let cell = match format {
        TimestampFormat::Rfc3339 => &RFC3339,
        TimestampFormat::Naive => &NAIVE,
    };
    *cell.get_or_init(|| compute_fingerprint(format))
}

fn compute_fingerprint(format: TimestampFormat) -> Option<u64> {
    let mut hash = Xxh3::new();
    hash.update(&ENCODING_REVISION.to_le_bytes());
    let canaries: Vec<SessionRecord> = serde_json::from_str(CANARIES).ok()?;
    for mut record in canaries {
        record.timestamp_format = format;
        hash.update(&encode_record(&record, usize::MAX).ok()?);
        hash.update(b"\n");
    }
    Some(hash.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_canary_parses_and_encodes() {
        let canaries: Vec<SessionRecord> = serde_json::from_str(CANARIES).unwrap();
        assert_eq!(canaries.len(), 3);
        for record in &canaries {
            encode_record(record, usize::MAX).unwrap();
        }
    }

    #[test]
    fn the_fingerprint_tells_timestamp_formats_apart_and_is_stable() {
        let rfc = encoder_fingerprint(TimestampFormat::Rfc3339);
        assert!(rfc.is_some());
        assert_eq!(rfc, compute_fingerprint(TimestampFormat::Rfc3339));
        assert_ne!(rfc, encoder_fingerprint(TimestampFormat::Naive));
    }

    #[test]
    fn the_checksum_is_xxh3() {
        // XXH3-64 of the empty input, from the specification's test vectors.
        assert_eq!(checksum(b""), 0x2D06_8005_38D3_94C2);
    }
}
