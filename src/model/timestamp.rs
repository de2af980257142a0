//! Serde helpers for the record's `created_at` / `updated_at` timestamps.
//!
//! The reference writes naive ISO-8601 (`2026-11-28T10:12:39.573134`, meaning UTC) and the
//! public docs show `2023-11-07T05:31:56Z`. Both are accepted, as is any UTC offset. Values are
//! kept at microsecond precision (the reference's), and written as RFC 3339 UTC with `Z`, with a
//! six-digit fraction only when it is non-zero.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Timelike, Utc};
use serde::{de, Deserializer, Serializer};

/// Parses a timestamp as the reference or the docs write it; naive values are UTC.
///
/// The result is truncated to whole microseconds.
///
/// ```
/// use agent_sessions::model::parse_timestamp;
/// let naive = parse_timestamp("2026-11-28T10:12:39.573134").unwrap();
/// let zulu = parse_timestamp("2026-11-28T10:12:39.573134Z").unwrap();
/// let offset = parse_timestamp("2026-11-28T12:12:39.573134+02:00").unwrap();
/// assert_eq!(naive, zulu);
/// assert_eq!(zulu, offset);
/// assert!(parse_timestamp("yesterday").is_none());
/// ```
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc()))
        .ok()?;
    Some(parsed.trunc_subsecs(6))
}

/// Formats a timestamp as RFC 3339 UTC with `Z`: `2026-11-28T10:12:39.573134Z`, or
/// `2026-11-28T10:12:39Z` when the fraction is zero.
///
/// ```
/// use agent_sessions::model::{format_timestamp, parse_timestamp};
/// let t = parse_timestamp("2026-11-28T10:12:39.5").unwrap();
/// assert_eq!(format_timestamp(&t), "2026-11-28T10:12:39.500000Z");
/// let t = parse_timestamp("2026-11-28T10:12:39").unwrap();
/// assert_eq!(format_timestamp(&t), "2026-11-28T10:12:39Z");
/// ```
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    let mut out = String::with_capacity(27);
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S"));
    let micros = t.nanosecond() % 1_000_000_000 / 1_000;
    if micros != 0 {
        let _ = write!(out, ".{micros:06}");
    }
    out.push('Z');
    out
}

/// The current time, truncated to microseconds like every stored timestamp.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `t` truncated to whole microseconds, the precision of every stored timestamp.
pub(crate) fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// `serialize_with` for a record timestamp.
pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp(t))
}

/// `deserialize_with` for a record timestamp.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    struct Visitor;
    impl de::Visitor<'_> for Visitor {
        type Value = DateTime<Utc>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an ISO-8601 timestamp such as 2026-11-28T10:12:39.573134Z")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse_timestamp(v).ok_or_else(|| {
                E::custom(format_args!(
                    "invalid timestamp {v:?}: expected ISO-8601 such as 2026-11-28T10:12:39.573134Z"
                ))
            })
        }
    }
    d.deserialize_str(Visitor)
}

/// A naive ISO-8601 string of the current time, as AgentScope writes a message's or a task's
/// `created_at` (`2026-11-28T10:30:10.982368`).
pub(crate) fn now_naive_string() -> String {
    Utc::now()
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}
