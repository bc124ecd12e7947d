//! Request budgets (token buckets) and the per-request fault draw.

use std::time::Instant;

use rand::RngExt;

use crate::config::{Bucket, Throttle};
use crate::store::State;

/// Which budget a request spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Reads,
    Writes,
    Deletes,
}

impl Class {
    pub fn of(method: &str) -> Class {
        match method {
            "GET" | "HEAD" => Class::Reads,
            "DELETE" => Class::Deletes,
            _ => Class::Writes,
        }
    }

    /// The class as throttling messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Class::Reads => "read",
            Class::Writes => "write",
            Class::Deletes => "delete",
        }
    }

    /// The `x-ms-ratelimit-remaining-subscription-*` header.
    pub fn header(self) -> &'static str {
        match self {
            Class::Reads => "x-ms-ratelimit-remaining-subscription-reads",
            Class::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            Class::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

#[derive(Clone, Debug)]
struct Level {
    bucket: Bucket,
    tokens: f64,
    at: Instant,
}

impl Level {
    fn new(bucket: Bucket) -> Level {
        Level {
            bucket,
            tokens: f64::from(bucket.capacity),
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens =
            (self.tokens + dt * self.bucket.refill_per_sec).min(f64::from(self.bucket.capacity));
        self.at = now;
    }
}

/// The three budgets of the (single-principal) subscription.
#[derive(Clone, Debug)]
pub(crate) struct Buckets {
    enforce: bool,
    reads: Level,
    writes: Level,
    deletes: Level,
}

/// The outcome of spending from a budget.
pub(crate) enum Spend {
    /// Allowed; this many remain.
    Ok(u64),
    /// Refused; retry after this many seconds.
    Throttled(u64),
}

impl Buckets {
    pub fn new(t: &Throttle) -> Buckets {
        Buckets {
            enforce: t.enforce,
            reads: Level::new(t.reads),
            writes: Level::new(t.writes),
            deletes: Level::new(t.deletes),
        }
    }

    fn level(&mut self, class: Class) -> &mut Level {
        match class {
            Class::Reads => &mut self.reads,
            Class::Writes => &mut self.writes,
            Class::Deletes => &mut self.deletes,
        }
    }

    /// Spends one token of `class`.
    pub fn spend(&mut self, class: Class, now: Instant) -> Spend {
        let enforce = self.enforce;
        let level = self.level(class);
        level.refill(now);
        if level.tokens >= 1.0 {
            level.tokens -= 1.0;
            return Spend::Ok(level.tokens.floor() as u64);
        }
        if !enforce {
            return Spend::Ok(0);
        }
        let rate = level.bucket.refill_per_sec.max(f64::MIN_POSITIVE);
        let wait = ((1.0 - level.tokens) / rate).ceil().max(1.0);
        Spend::Throttled(wait.min(3600.0) as u64)
    }
}

/// What the fault draw decided for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Draw {
    /// Handle it normally.
    Pass,
    /// Answer 500 without applying.
    Error,
    /// Close the connection without applying.
    Drop,
    /// Apply, then close the connection without answering.
    LoseAnswer,
}

impl State {
    /// Draws the fault for one request.
    pub fn draw_fault(&mut self) -> Draw {
        let f = self.faults.clone();
        let x: f64 = self.rng.random();
        if x < f.error_rate {
            Draw::Error
        } else if x < f.error_rate + f.drop_rate {
            Draw::Drop
        } else if x < f.error_rate + f.drop_rate + f.lost_answer_rate {
            Draw::LoseAnswer
        } else {
            Draw::Pass
        }
    }
}
