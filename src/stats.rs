//! Counters a store keeps about its own work, for metrics: fixed-bucket histograms recorded
//! with a few relaxed atomic additions (no lock, no allocation), read as snapshots.
//!
//! The durable store's journal records every fsync's duration and how many journal lines it
//! made durable (the group commit's size); [`SessionBackend::journal_stats`] hands them out,
//! and the server's `GET /metrics` reports them.
//!
//! [`SessionBackend::journal_stats`]: crate::SessionBackend::journal_stats

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A histogram as read at one moment: how many values fell at or below each bound.
///
/// ```
/// use agent_sessions::HistogramSnapshot;
/// let h = HistogramSnapshot::default();
/// assert_eq!((h.count, h.sum), (0, 0.0));
/// assert!(h.buckets.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct HistogramSnapshot {
    /// How many values were recorded.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// `(upper bound, how many values fell in this bucket and not in the one before)`, by
    /// increasing bound; the last bound is `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
}

/// What a durable store's journal has done since the store was opened.
///
/// ```
/// use agent_sessions::{FsyncPolicy, SessionStore};
/// let dir = tempfile::tempdir()?;
/// let store = SessionStore::builder().fsync(FsyncPolicy::Always).open(dir.path())?;
/// store.create(agent_sessions::NewSession::new("u", "a"))?;
/// let stats = store.journal_stats().expect("a durable store has a journal");
/// assert!(stats.fsync_seconds.count >= 1);
/// assert!(stats.group_commit_lines.sum >= 1.0);
/// assert!(SessionStore::new().journal_stats().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct JournalStats {
    /// The duration of each fsync of the journal, in seconds.
    pub fsync_seconds: HistogramSnapshot,
    /// How many journal lines each fsync made durable: the size of a group commit (under
    /// `FsyncPolicy::Always`, one fsync serves every writer waiting for it).
    pub group_commit_lines: HistogramSnapshot,
}

/// A histogram recorded with atomics: one bucket per bound, plus the overflow.
#[derive(Debug)]
pub(crate) struct AtomicHistogram {
    bounds: &'static [f64],
    /// `bounds.len() + 1` counters: the last one counts values above every bound.
    counts: Box<[AtomicU64]>,
    count: AtomicU64,
    /// The sum, in `unit`s (nanoseconds for durations), so it adds as an integer.
    sum_units: AtomicU64,
    /// The value of one unit of `sum_units`.
    unit: f64,
}

/// Bounds of fsync durations, in seconds: 100 µs to 2.5 s.
pub(crate) const FSYNC_SECONDS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Bounds of group-commit sizes, in lines.
pub(crate) const GROUP_LINES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

impl AtomicHistogram {
    /// A histogram of values with these bounds, summed in units of `unit`.
    pub(crate) fn new(bounds: &'static [f64], unit: f64) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_units: AtomicU64::new(0),
            unit,
        }
    }

    /// Records a value given in units (nanoseconds, lines).
    #[allow(clippy::cast_precision_loss)] // far below 2^53 in practice
    pub(crate) fn record_units(&self, units: u64) {
        let value = units as f64 * self.unit;
        let at = self.bounds.partition_point(|&b| b < value);
        self.counts[at].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_units.fetch_add(units, Ordering::Relaxed);
    }

    /// Records a duration (for a histogram in seconds, summed in nanoseconds).
    pub(crate) fn record_duration(&self, d: Duration) {
        self.record_units(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The histogram as it is now (counters read one by one: a snapshot taken while values
    /// are recorded may be off by those few).
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let bounds = self.bounds.iter().copied().chain([f64::INFINITY]);
        HistogramSnapshot {
            count: self.count.load(Ordering::Relaxed),
            sum: self.sum_units.load(Ordering::Relaxed) as f64 * self.unit,
            buckets: bounds
                .zip(self.counts.iter().map(|c| c.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_the_first_bucket_whose_bound_they_do_not_exceed() {
        let h = AtomicHistogram::new(GROUP_LINES, 1.0);
        for lines in [1, 1, 2, 3, 256, 257, 10_000] {
            h.record_units(lines);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 7);
        assert!((s.sum - 10_520.0).abs() < f64::EPSILON);
        // Buckets by position: bounds 1, 2, 4, ..., 256, then +Inf.
        let count = |i: usize| s.buckets[i].1;
        assert_eq!(count(0), 2); // 1, 1
        assert_eq!(count(1), 1); // 2
        assert_eq!(count(2), 1); // 3
        assert_eq!(count(8), 1); // 256
        assert_eq!(count(9), 2); // 257, 10000
        assert!(s.buckets[9].0.is_infinite());
        assert_eq!(s.buckets.len(), GROUP_LINES.len() + 1);
    }

    #[test]
    fn durations_are_recorded_in_seconds() {
        let h = AtomicHistogram::new(FSYNC_SECONDS, 1e-9);
        h.record_duration(Duration::from_micros(300));
        let s = h.snapshot();
        assert_eq!(s.count, 1);
        assert!((s.sum - 0.0003).abs() < 1e-12);
        let (bound, n) = s.buckets.iter().find(|(_, n)| *n == 1).unwrap();
        assert!((bound - 0.000_5).abs() < 1e-12, "{bound} {n}");
    }
}
