//! What request bodies may cost: the memory of the bodies being read and parsed at once, the
//! memory one body may make its parse take, and how long a body may take to arrive.
//!
//! A body reserves its bytes as they arrive, then, before it is parsed, what its parse will
//! take at most ([`super::json::parse_cost`], counted without allocating). The reservation is
//! held until the request's answer is made. A body whose parse would cost more than
//! [`COST_FACTOR`] times its size (plus [`COST_FLOOR`]) answers 413 without being parsed; a
//! reservation that does not fit the budget answers 503 (or 413 when it could never fit).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};

use super::errors::ApiError;
use super::Options;

/// A body's parse may cost this many times its size ...
pub(crate) const COST_FACTOR: usize = 8;
/// ... plus this much, so that small bodies of any shape pass.
pub(crate) const COST_FLOOR: usize = 16 * 1024 * 1024;

/// The bodies' budget, shared by every request of one router.
#[derive(Debug)]
pub(crate) struct Bodies {
    used: AtomicUsize,
    budget: usize,
    /// How long a body may take to arrive in full.
    pub read_timeout: Duration,
}

impl Bodies {
    pub(crate) fn new(options: &Options) -> Self {
        Self {
            used: AtomicUsize::new(0),
            budget: options.max_body_memory,
            read_timeout: options.body_read_timeout,
        }
    }

    /// An empty reservation, grown as the body arrives.
    pub(crate) fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            bodies: Arc::clone(self),
            held: 0,
        }
    }

    /// The most a body of `len` bytes may make its parse cost.
    pub(crate) fn cost_limit(len: usize) -> usize {
        len.saturating_mul(COST_FACTOR).saturating_add(COST_FLOOR)
    }
}

/// Memory held against the budget, given back on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    bodies: Arc<Bodies>,
    held: usize,
}

impl Reservation {
    /// Grows the reservation to `total` bytes: 413 when `total` is over the whole budget, 503
    /// when it is not free now.
    pub(crate) fn grow_to(&mut self, total: usize) -> Result<(), ApiError> {
        if total <= self.held {
            return Ok(());
        }
        let budget = self.bodies.budget;
        if total > budget {
            return Err(too_costly(budget));
        }
        let more = total - self.held;
        let granted = self
            .bodies
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(more).filter(|&n| n <= budget)
            });
        match granted {
            Ok(_) => {
                self.held = total;
                Ok(())
            }
            Err(_) => Err(busy()),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.bodies.used.fetch_sub(self.held, Ordering::AcqRel);
    }
}

/// 413: what this body needs is more than the server ever gives one body.
pub(crate) fn too_costly(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "Request body holds too many values for its size: parsing it would take more \
             than the {limit} bytes of memory allowed."
        ),
    )
}

/// 503 with `Retry-After: 1`: other bodies hold the memory now.
pub(crate) fn busy() -> ApiError {
    ApiError::Detail {
        status: StatusCode::SERVICE_UNAVAILABLE,
        detail: "The server is busy reading other request bodies; try again later.".into(),
        headers: vec![(header::RETRY_AFTER, HeaderValue::from_static("1"))],
    }
}

/// 408: the body did not arrive in time.
pub(crate) fn body_timeout(timeout: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "Request body did not arrive within {} s.",
            timeout.as_secs_f64()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_give_it_back() {
        let bodies = Arc::new(Bodies::new(&Options::default().max_body_memory(100)));
        let mut a = bodies.reservation();
        a.grow_to(60).unwrap();
        let mut b = bodies.reservation();
        assert!(matches!(
            b.grow_to(50),
            Err(ApiError::Detail { status, .. }) if status == StatusCode::SERVICE_UNAVAILABLE
        ));
        assert!(matches!(
            b.grow_to(101),
            Err(ApiError::Detail { status, .. }) if status == StatusCode::PAYLOAD_TOO_LARGE
        ));
        b.grow_to(40).unwrap();
        drop(a);
        b.grow_to(100).unwrap();
        drop(b);
        assert_eq!(bodies.used.load(Ordering::Acquire), 0);
    }
}
