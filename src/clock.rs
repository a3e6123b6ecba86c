//! The time the service acts on. Deadlines and the scheduler read it from here, so that tests can
//! stand one second before or after a deadline without sleeping.

use std::sync::Mutex;

use chrono::{Duration, DurationRound, NaiveDateTime, Utc};

/// Now in UTC, to the microsecond: the precision both databases store, so that a value read back
/// equals the value written and returned.
pub fn utc_now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.duration_trunc(Duration::microseconds(1)).unwrap_or(now)
}

pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> NaiveDateTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        utc_now()
    }
}

/// A clock that stands still until moved.
pub struct ManualClock(Mutex<NaiveDateTime>);

impl ManualClock {
    pub fn new(now: NaiveDateTime) -> Self {
        Self(Mutex::new(now))
    }

    pub fn set(&self, now: NaiveDateTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
