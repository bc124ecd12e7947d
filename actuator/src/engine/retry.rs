//! Node errors and the retry policy applied to them.

use std::time::Duration;

use rand::{Rng, RngExt};

/// Why a node's attempt failed, and whether trying again may help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AttemptError {
    /// Human-readable cause.
    pub message: String,
    /// Transient (throttling, timeouts, eventual consistency): worth retrying.
    pub retryable: bool,
    /// Server-provided minimum wait before the next attempt (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl AttemptError {
    /// A transient error that the walker may retry.
    pub fn retryable(message: impl Into<String>) -> Self {
        AttemptError {
            message: message.into(),
            retryable: true,
            retry_after: None,
        }
    }

    /// A permanent error: the node fails at once.
    pub fn fatal(message: impl Into<String>) -> Self {
        AttemptError {
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }

    /// Sets the minimum wait before the next attempt.
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// The same error with `what` (a resource's path, a task's name) in front of its message.
    ///
    /// ```
    /// use actuator::engine::AttemptError;
    /// let e = AttemptError::retryable("throttled").context("infra.vpc");
    /// assert_eq!((e.message.as_str(), e.retryable), ("infra.vpc: throttled", true));
    /// ```
    pub fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// How the exponential delay is randomised, so that many nodes throttled at
/// the same moment do not retry in lock-step.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the exponential delay (deterministic; handy in tests).
    None,
    /// Uniform in `[0, delay]`: best spread, occasionally very short.
    #[default]
    Full,
    /// Uniform in `[delay / 2, delay]`: keeps at least half the backoff.
    Equal,
}

/// When and how often a retryable node error is retried.
///
/// The delay after failed attempt `k` (1-based) is
/// `min(max_delay, base_delay * 2^(k-1))`, jittered, and never shorter than
/// the error's `retry_after`.
///
/// ```
/// use std::time::Duration;
/// use actuator::engine::retry::{Jitter, AttemptError, RetryPolicy};
///
/// let policy = RetryPolicy {
///     max_attempts: 4,
///     base_delay: Duration::from_millis(100),
///     max_delay: Duration::from_millis(250),
///     deadline: None,
///     jitter: Jitter::None,
/// };
/// let err = AttemptError::retryable("throttled");
/// let mut rng = rand::rng();
/// let delays: Vec<_> = (1..=4)
///     .map(|attempt| policy.next_delay(attempt, Duration::ZERO, &err, &mut rng))
///     .collect();
/// let ms = |n| Some(Duration::from_millis(n));
/// assert_eq!(delays, [ms(100), ms(200), ms(250), None]); // capped, then out of attempts
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first; 1 disables retries.
    pub max_attempts: u32,
    /// Delay after the first failed attempt.
    pub base_delay: Duration,
    /// Cap on the exponential delay (not on `retry_after`).
    pub max_delay: Duration,
    /// No attempt starts later than this after the node's first attempt.
    pub deadline: Option<Duration>,
    /// Randomisation of the delay.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    /// 5 attempts, 500 ms doubling up to 30 s, full jitter, no deadline.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            deadline: None,
            jitter: Jitter::Full,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The un-jittered delay after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.base_delay
            .checked_mul(1 << doublings)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// The jittered delay after failed attempt `attempt`.
    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let d = self.backoff(attempt);
        // max_delay bounds d, so nanoseconds fit in u64 for any sane policy.
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        match self.jitter {
            Jitter::None => d,
            Jitter::Full => Duration::from_nanos(rng.random_range(0..=nanos)),
            Jitter::Equal => {
                Duration::from_nanos(nanos / 2 + rng.random_range(0..=nanos - nanos / 2))
            }
        }
    }

    /// Decides what happens after attempt `attempt` failed with `err`,
    /// `elapsed` after the node's first attempt started: `Some(delay)` to try
    /// again after `delay`, `None` if the failure is final (not retryable,
    /// attempts used up, or the next attempt would start past the deadline).
    pub fn next_delay<R: Rng + ?Sized>(
        &self,
        attempt: u32,
        elapsed: Duration,
        err: &AttemptError,
        rng: &mut R,
    ) -> Option<Duration> {
        if !err.retryable || attempt >= self.max_attempts {
            return None;
        }
        let delay = self
            .delay(attempt, rng)
            .max(err.retry_after.unwrap_or_default());
        match self.deadline {
            Some(deadline) if elapsed.saturating_add(delay) > deadline => None,
            _ => Some(delay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn policy(jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            deadline: None,
            jitter,
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = policy(Jitter::None);
        let got: Vec<u128> = (1..=6).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(1), "no overflow");
    }

    #[test]
    fn jitter_stays_in_its_range_and_varies() {
        let mut rng = SmallRng::seed_from_u64(7);
        for (jitter, low) in [(Jitter::Full, 0), (Jitter::Equal, 200)] {
            let p = policy(jitter);
            let got: Vec<u128> = (0..200).map(|_| p.delay(3, &mut rng).as_millis()).collect();
            assert!(
                got.iter().all(|&d| (low..=400).contains(&d)),
                "{jitter:?}: {got:?}"
            );
            let (min, max) = (got.iter().min().unwrap(), got.iter().max().unwrap());
            assert!(
                max - min > 100,
                "{jitter:?} should spread delays: {min}..{max}"
            );
        }
    }

    #[test]
    fn only_retryable_errors_within_attempts_and_deadline_are_retried() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut p = policy(Jitter::None);
        let transient = AttemptError::retryable("throttled");
        let ms = Duration::from_millis;
        assert_eq!(
            p.next_delay(1, ms(0), &AttemptError::fatal("denied"), &mut rng),
            None
        );
        assert_eq!(p.next_delay(9, ms(0), &transient, &mut rng), Some(ms(1000)));
        assert_eq!(
            p.next_delay(10, ms(0), &transient, &mut rng),
            None,
            "attempts used up"
        );
        p.deadline = Some(ms(350));
        assert_eq!(
            p.next_delay(2, ms(100), &transient, &mut rng),
            Some(ms(200)),
            "starts at 300"
        );
        assert_eq!(
            p.next_delay(3, ms(300), &transient, &mut rng),
            None,
            "would start at 700"
        );
        // retry_after overrides a shorter backoff, even beyond max_delay.
        let slow = transient.with_retry_after(ms(2000));
        p.deadline = None;
        assert_eq!(p.next_delay(1, ms(0), &slow, &mut rng), Some(ms(2000)));
        assert_eq!(
            RetryPolicy::never().next_delay(1, ms(0), &slow, &mut rng),
            None
        );
    }
}
