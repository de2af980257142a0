//! Serde helpers for the record's `created_at` / `updated_at` timestamps.
//!
//! The reference writes naive ISO-8601 (`2026-11-28T10:12:39.573134`, meaning UTC) and the
//! public docs show `2023-11-07T05:31:56Z`. Both are accepted, as is any UTC offset. Values are
//! kept at microsecond precision (the reference's), and written as the record's
//! [`TimestampFormat`] says: RFC 3339 UTC with `Z` (the default), or naive as the reference
//! writes them; either way with a six-digit fraction only when it is non-zero.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDateTime, SubsecRound, Timelike, Utc};
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
    formatted(t, RFC3339_Z, str::to_owned)
}

/// How a record's `created_at` / `updated_at` are written. Both read back as the same instant.
///
/// - [`TimestampFormat::Rfc3339`] (the default, what this crate has always written):
///   `2026-11-28T10:12:39.573134Z`.
/// - [`TimestampFormat::Naive`], as AgentScope (2.0.0 and 2.0.11 alike) writes them, UTC
///   without an offset: `2026-11-28T10:12:39.573134`.
///
/// A zero fraction is left out in both, as Python's `isoformat` does.
///
/// ```
/// use agent_sessions::model::{parse_timestamp, TimestampFormat};
/// let t = parse_timestamp("2026-11-28T10:12:39.573134Z").unwrap();
/// assert_eq!(TimestampFormat::Naive.format(&t), "2026-11-28T10:12:39.573134");
/// assert_eq!(TimestampFormat::default().format(&t), "2026-11-28T10:12:39.573134Z");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimestampFormat {
    /// RFC 3339 UTC with `Z`.
    #[default]
    Rfc3339,
    /// Naive ISO-8601, meaning UTC, as AgentScope writes it.
    Naive,
}

impl TimestampFormat {
    /// `t` written in this format.
    pub fn format(self, t: &DateTime<Utc>) -> String {
        formatted(t, self.layout(), str::to_owned)
    }

    fn layout(self) -> Layout {
        match self {
            Self::Rfc3339 => RFC3339_Z,
            Self::Naive => NAIVE,
        }
    }
}

/// A timestamp and the format to write it in, as a serde value.
pub(crate) struct Written<'a>(pub &'a DateTime<Utc>, pub TimestampFormat);

impl serde::Serialize for Written<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        formatted(self.0, self.1.layout(), |text| s.serialize_str(text))
    }
}

/// How a timestamp is written.
#[derive(Clone, Copy)]
struct Layout {
    /// Between the date and the time: `T`, or a space.
    sep: u8,
    /// Whether the six-digit fraction is written even when it is zero.
    always_fraction: bool,
    /// Whether a `Z` ends it.
    zulu: bool,
}

/// The record timestamps: `2026-11-28T10:12:39.573134Z`, `2026-11-28T10:12:39Z`.
const RFC3339_Z: Layout = Layout {
    sep: b'T',
    always_fraction: false,
    zulu: true,
};

/// A record's naive timestamp, as AgentScope writes it: `2026-11-28T10:12:39.573134`,
/// `2026-11-28T10:12:39`.
const NAIVE: Layout = Layout {
    sep: b'T',
    always_fraction: false,
    zulu: false,
};

/// A message's or task's naive `created_at`: `2026-11-28T10:30:10.982368`.
const NAIVE_MICROS: Layout = Layout {
    sep: b'T',
    always_fraction: true,
    zulu: false,
};

/// A default session name: `2026-11-28 10:12:39`.
const SESSION_NAME: Layout = Layout {
    sep: b' ',
    always_fraction: false,
    zulu: false,
};

/// The longest any layout writes: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
const MAX_LEN: usize = 27;

/// Writes `t` in `layout` into `buf`, without chrono's general formatter (timestamps are
/// written on every create and update). `None` for what only the general formatter writes
/// right: years outside 0..=9999 and leap seconds.
fn write<'b>(t: &DateTime<Utc>, layout: Layout, buf: &'b mut [u8; MAX_LEN]) -> Option<&'b str> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let micros = nanos / 1_000;
    put_digits(&mut buf[0..4], year);
    buf[4] = b'-';
    put_digits(&mut buf[5..7], t.month());
    buf[7] = b'-';
    put_digits(&mut buf[8..10], t.day());
    buf[10] = layout.sep;
    put_digits(&mut buf[11..13], t.hour());
    buf[13] = b':';
    put_digits(&mut buf[14..16], t.minute());
    buf[16] = b':';
    put_digits(&mut buf[17..19], t.second());
    let mut len = 19;
    if micros != 0 || layout.always_fraction {
        buf[19] = b'.';
        put_digits(&mut buf[20..26], micros);
        len = 26;
    }
    if layout.zulu {
        buf[len] = b'Z';
        len += 1;
    }
    std::str::from_utf8(&buf[..len]).ok()
}

/// Hands `t` written in `layout` to `f`: from a buffer on the stack where [`write`] can write
/// it, else from chrono's general formatter.
fn formatted<R>(t: &DateTime<Utc>, layout: Layout, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0; MAX_LEN];
    match write(t, layout, &mut buf) {
        Some(text) => f(text),
        None => f(&slow(t, layout)),
    }
}

/// Fills `out` with the last `out.len()` decimal digits of `n`, zero-padded.
fn put_digits(out: &mut [u8], mut n: u32) {
    for d in out.iter_mut().rev() {
        *d = b"0123456789"[(n % 10) as usize];
        n /= 10;
    }
}

/// chrono's general formatter, for what `write` leaves to it.
fn slow(t: &DateTime<Utc>, layout: Layout) -> String {
    let mut out = String::with_capacity(MAX_LEN + 4);
    let date_time = if layout.sep == b'T' {
        "%Y-%m-%dT%H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", t.format(date_time));
    let micros = t.nanosecond() % 1_000_000_000 / 1_000;
    if micros != 0 || layout.always_fraction {
        let _ = write!(out, ".{micros:06}");
    }
    if layout.zulu {
        out.push('Z');
    }
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
    formatted(t, RFC3339_Z, |text| s.serialize_str(text))
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
    formatted(&Utc::now(), NAIVE_MICROS, str::to_owned)
}

/// AgentScope's default name of a session created at `t`: `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn default_session_name(t: &DateTime<Utc>) -> String {
    formatted(&t.trunc_subsecs(0), SESSION_NAME, str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    proptest! {
        /// The hand-written formatter writes what chrono's general one writes.
        #[test]
        fn the_fast_path_writes_what_chrono_writes(
            secs in -62_135_596_800_i64..253_402_300_799,
            micros in 0u32..1_000_000,
            always_fraction: bool,
            zulu: bool,
            space: bool,
        ) {
            let t = Utc.timestamp_opt(secs, micros * 1_000).unwrap();
            let layout = Layout { sep: if space { b' ' } else { b'T' }, always_fraction, zulu };
            let mut buf = [0; MAX_LEN];
            let fast = write(&t, layout, &mut buf).unwrap().to_owned();
            prop_assert_eq!(fast, slow(&t, layout));
        }
    }

    #[test]
    fn years_past_9999_and_leap_seconds_take_the_general_path() {
        let far = Utc.with_ymd_and_hms(12_345, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(format_timestamp(&far), "+12345-01-02T03:04:05Z");
        let before_zero = Utc.with_ymd_and_hms(-1, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(format_timestamp(&before_zero), "-0001-01-02T03:04:05Z");
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_micro_opt(23, 59, 59, 1_500_000)
            .unwrap()
            .and_utc();
        assert_eq!(format_timestamp(&leap), "2016-12-31T23:59:60.500000Z");
        assert_eq!(
            default_session_name(&Utc.with_ymd_and_hms(2026, 11, 29, 7, 5, 9).unwrap()),
            "2026-11-29 07:05:09"
        );
    }
}
