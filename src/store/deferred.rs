//! Commits deferred to an async caller: the store's synchronous writes, run inside
//! [`collect`], note the journal line they would wait for instead of blocking on it, and the
//! async caller awaits that line afterwards (see `as_backend`).
//!
//! Deferring is sound because a journal commit covers every line up to the one named: the
//! highest line noted is the only one to wait for. Only the store named by `collect` defers;
//! a write to another store made meanwhile (from an update's closure, say) commits as usual.

use std::cell::Cell;

/// The store deferring (its address) and the highest line it noted.
type Deferring = Option<(usize, u64)>;

thread_local! {
    static DEFERRED: Cell<Deferring> = const { Cell::new(None) };
}

/// Runs `write` with the commits of `store` (its address) deferred; returns its result and
/// the highest journal line it would have waited for (`None` if none). `write` is
/// synchronous, so it runs on this thread from start to end.
pub(super) fn collect<T>(store: usize, write: impl FnOnce() -> T) -> (T, Option<u64>) {
    /// Puts the outer state back, even if `write` panics.
    struct Restore(Deferring);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEFERRED.with(|d| d.set(self.0));
        }
    }
    let restore = Restore(DEFERRED.with(|d| d.replace(Some((store, 0)))));
    let out = write();
    let highest = DEFERRED
        .with(Cell::get)
        .map(|(_, seq)| seq)
        .filter(|&seq| seq > 0);
    drop(restore);
    (out, highest)
}

/// Inside [`collect`] for `store`: notes `seq` and returns `true`. Elsewhere: `false` (the
/// caller commits now).
pub(super) fn note(store: usize, seq: u64) -> bool {
    DEFERRED.with(|d| match d.get() {
        Some((deferring, highest)) if deferring == store => {
            d.set(Some((store, highest.max(seq))));
            true
        }
        _ => false,
    })
}
