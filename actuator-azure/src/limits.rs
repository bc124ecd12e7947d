//! Rate limits: ARM's per-subscription token buckets mirrored on the client, corrected by what
//! ARM says is left (`x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}`), and the
//! engine's limits on how fast VM operations start.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// A token bucket: `burst` requests at once, then `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Tokens when full.
    pub burst: u32,
    /// Refill rate.
    pub per_second: f64,
}

/// Client-side limits, per proxy (one subscription and principal). `Default` is ARM's own
/// (2024 token-bucket model: reads 250 then 25/s, writes and deletes 200 then 10/s) and Compute's
/// VM creation budget (240 per 3 minutes); [`ApiLimits::unlimited`] turns them off (a local fake).
///
/// ```
/// use actuator_azure::{ApiLimits, Bucket};
/// let l = ApiLimits { writes: Some(Bucket { burst: 50, per_second: 5.0 }), ..ApiLimits::default() };
/// assert_eq!(l.reads.unwrap().burst, 250);
/// assert!(ApiLimits::unlimited().writes.is_none());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ApiLimits {
    /// GETs (reads and polls).
    pub reads: Option<Bucket>,
    /// PUT and PATCH.
    pub writes: Option<Bucket>,
    /// DELETE.
    pub deletes: Option<Bucket>,
    /// How fast VM creations, updates and deletions start (an engine token bucket on VM steps).
    pub vm_operations: Option<Bucket>,
    /// At most this many resource steps of this proxy in flight (an engine limit).
    pub max_in_flight: Option<usize>,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            reads: Some(Bucket {
                burst: 250,
                per_second: 25.0,
            }),
            writes: Some(Bucket {
                burst: 200,
                per_second: 10.0,
            }),
            deletes: Some(Bucket {
                burst: 200,
                per_second: 10.0,
            }),
            vm_operations: Some(Bucket {
                burst: 240,
                per_second: 240.0 / 180.0,
            }),
            max_in_flight: None,
        }
    }
}

impl ApiLimits {
    /// No client-side limits (ARM still throttles; the proxy then waits as told).
    pub fn unlimited() -> Self {
        ApiLimits {
            reads: None,
            writes: None,
            deletes: None,
            vm_operations: None,
            max_in_flight: None,
        }
    }
}

/// Which budget a request spends (ARM's classes).
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

    /// The header ARM reports this class's remaining budget in.
    pub fn header(self) -> &'static str {
        match self {
            Class::Reads => "x-ms-ratelimit-remaining-subscription-reads",
            Class::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            Class::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

/// One class's bucket. A request takes a token, going into debt when there is none, and waits
/// until its token would have been refilled: waiters queue in order without waking each other.
#[derive(Debug)]
pub(crate) struct Budget {
    bucket: Bucket,
    level: Mutex<(f64, Instant)>,
}

impl Budget {
    pub fn new(bucket: Bucket) -> Self {
        Budget {
            bucket,
            level: Mutex::new((f64::from(bucket.burst), Instant::now())),
        }
    }

    fn refill(&self, level: &mut (f64, Instant)) {
        let now = Instant::now();
        let dt = now.saturating_duration_since(level.1).as_secs_f64();
        level.0 = (level.0 + dt * self.bucket.per_second).min(f64::from(self.bucket.burst));
        level.1 = now;
    }

    /// Takes a token; returns how long it waited for it.
    pub async fn take(&self) -> Duration {
        let wait = {
            let mut l = self.level.lock();
            self.refill(&mut l);
            l.0 -= 1.0;
            if l.0 >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-l.0 / self.bucket.per_second.max(1e-9))
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }

    /// ARM says `remaining` requests of this class are left: never believe there are more.
    pub fn observe(&self, remaining: u64) {
        let mut l = self.level.lock();
        self.refill(&mut l);
        l.0 = l.0.min(remaining as f64);
    }
}

/// The three budgets of the subscription.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    reads: Option<Budget>,
    writes: Option<Budget>,
    deletes: Option<Budget>,
}

impl Budgets {
    pub fn new(l: &ApiLimits) -> Self {
        Budgets {
            reads: l.reads.map(Budget::new),
            writes: l.writes.map(Budget::new),
            deletes: l.deletes.map(Budget::new),
        }
    }

    pub fn of(&self, class: Class) -> Option<&Budget> {
        match class {
            Class::Reads => self.reads.as_ref(),
            Class::Writes => self.writes.as_ref(),
            Class::Deletes => self.deletes.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_admits_its_burst_then_its_rate_and_believes_the_server() {
        let b = Budget::new(Bucket {
            burst: 2,
            per_second: 10.0,
        });
        assert_eq!(b.take().await, Duration::ZERO);
        assert_eq!(b.take().await, Duration::ZERO);
        let w = b.take().await;
        assert!(
            w > Duration::from_millis(90) && w <= Duration::from_millis(100),
            "{w:?}"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        // Full again locally, but the server says nothing is left.
        b.observe(0);
        assert!(b.take().await >= Duration::from_millis(90));
        assert_eq!(
            Class::of("DELETE").header(),
            "x-ms-ratelimit-remaining-subscription-deletes"
        );
    }
}
