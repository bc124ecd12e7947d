//! Concurrency limits and rate limits keyed by strings.
//!
//! A node names the keys it consumes (`"proxy:aws"`,
//! `"api:aws:RunInstances"`, `"host:127.0.0.2"`); the walk options map some
//! keys to a [`Limit`]. Keys without a configured limit are unlimited. A node
//! starts only if *all* of its keys admit it, and then takes a slot and a
//! token from each of them at once.
//!
//! [`Limiter`] is synchronous and takes the current time as an argument, so
//! the walker never sleeps inside it and tests can drive it with made-up
//! instants. Its buckets are [`Gcra`]s, which callers outside the walker (a
//! proxy's per-API buckets) use directly through [`Gcra::reserve`].

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket: up to `burst` starts at once, refilled at `per_second`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct TokenBucket {
    /// Tokens available after a quiet period (at least 1).
    pub burst: u32,
    /// Refill rate in tokens per second (positive, at most 1e9).
    pub per_second: f64,
}

/// The limit for one key; `None` fields do not restrict.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct Limit {
    /// At most this many nodes holding the key run at once (at least 1).
    pub max_concurrent: Option<usize>,
    /// Start rate for nodes holding the key.
    pub rate: Option<TokenBucket>,
}

impl Limit {
    /// Only a concurrency limit.
    pub fn concurrent(max: usize) -> Self {
        Limit {
            max_concurrent: Some(max),
            rate: None,
        }
    }

    /// Only a rate limit.
    pub fn rate(burst: u32, per_second: f64) -> Self {
        Limit {
            max_concurrent: None,
            rate: Some(TokenBucket { burst, per_second }),
        }
    }
}

/// A configured limit can never admit anything.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("invalid limit for key {key:?}: {reason}")]
pub struct LimitError {
    /// The offending key.
    pub key: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Dense index of a configured key inside a [`Limiter`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u32);

/// A running [`TokenBucket`], as GCRA: one "theoretical arrival time" in
/// integer nanoseconds instead of a fractional token count, so the next
/// admission time is exact (no float drift, no 1 ns re-polling).
///
/// Synchronous and clock-free: every method takes the current time. A caller
/// that waits for its token (instead of being scheduled, as the walker's
/// nodes are) [`reserve`](Gcra::reserve)s one and sleeps until the instant it
/// gets back:
///
/// ```
/// use std::time::Duration;
/// use actuator::engine::limits::{Gcra, TokenBucket};
/// use tokio::time::Instant;
///
/// let t0 = Instant::now();
/// let mut b = Gcra::new(TokenBucket { burst: 2, per_second: 10.0 }, t0).unwrap();
/// let starts: Vec<Duration> = (0..4).map(|_| b.reserve(t0) - t0).collect();
/// let ms = Duration::from_millis;
/// assert_eq!(starts, [ms(0), ms(0), ms(100), ms(200)]); // a burst of 2, then 10 per second
/// ```
#[derive(Clone, Debug)]
pub struct Gcra {
    interval: Duration,  // time to refill one token
    tolerance: Duration, // (burst - 1) * interval
    tat: Instant,
}

impl Gcra {
    /// A full bucket at `now`.
    ///
    /// # Errors
    /// Why `bucket` could never admit anything: a burst of 0, or a rate that
    /// is not in (0, 1e9] per second.
    pub fn new(bucket: TokenBucket, now: Instant) -> Result<Self, &'static str> {
        let TokenBucket { burst, per_second } = bucket;
        if burst == 0 {
            return Err("burst must be at least 1");
        }
        if !(per_second.is_finite() && per_second > 0.0 && per_second <= 1e9) {
            return Err("per_second must be in (0, 1e9]");
        }
        let interval = Duration::from_secs_f64(1.0 / per_second);
        Ok(Gcra {
            interval,
            tolerance: interval * (burst - 1),
            tat: now,
        })
    }

    /// Whether a token is available at `now`.
    pub fn admits(&self, now: Instant) -> bool {
        self.tat <= now + self.tolerance
    }

    /// Takes a token at `now` (after [`admits`](Gcra::admits) said yes).
    pub fn take(&mut self, now: Instant) {
        self.tat = self.tat.max(now) + self.interval;
    }

    /// The earliest instant a token is available (in the past if one is now).
    pub fn ready_at(&self) -> Instant {
        self.tat.checked_sub(self.tolerance).unwrap_or(self.tat)
    }

    /// Takes the next free token — now if one is available, else the first
    /// one the refill brings — and returns the instant it is for: the caller
    /// starts then. Concurrent callers each get their own instant, spaced as
    /// the bucket allows, so nobody polls.
    pub fn reserve(&mut self, now: Instant) -> Instant {
        let start = self.ready_at().max(now);
        self.take(start);
        start
    }
}

#[derive(Debug)]
struct KeyState {
    max: Option<usize>,
    in_use: usize,
    bucket: Option<Gcra>,
}

/// Bookkeeping for all configured keys.
///
/// ```
/// use std::collections::HashMap;
/// use std::time::Duration;
/// use actuator::engine::limits::{Limit, Limiter};
/// use tokio::time::Instant;
///
/// let t0 = Instant::now();
/// let limits = HashMap::from([("api".to_string(), Limit::rate(2, 10.0))]);
/// let mut l = Limiter::new(&limits, t0).unwrap();
/// let keys = l.resolve(&["api".to_string(), "unlimited".to_string()]);
/// assert!(l.try_acquire(&keys, t0).is_ok());
/// assert!(l.try_acquire(&keys, t0).is_ok()); // burst of 2
/// let blocked = l.try_acquire(&keys, t0).unwrap_err();
/// assert_eq!(l.next_admission(blocked, t0), Some(t0 + Duration::from_millis(100)));
/// ```
#[derive(Debug)]
pub struct Limiter {
    ids: HashMap<String, KeyId>,
    keys: Vec<KeyState>,
}

impl Limiter {
    /// Validates `limits` and starts every bucket full at `now`.
    pub fn new(limits: &HashMap<String, Limit>, now: Instant) -> Result<Self, LimitError> {
        let mut names: Vec<&String> = limits.keys().collect();
        names.sort(); // stable KeyIds regardless of HashMap order
        let mut l = Limiter {
            ids: HashMap::new(),
            keys: Vec::new(),
        };
        for name in names {
            let limit = limits[name];
            let bad = |reason| LimitError {
                key: name.clone(),
                reason,
            };
            if limit.max_concurrent == Some(0) {
                return Err(bad("max_concurrent must be at least 1"));
            }
            let bucket = limit
                .rate
                .map(|rate| Gcra::new(rate, now))
                .transpose()
                .map_err(bad)?;
            l.ids.insert(name.clone(), KeyId(l.keys.len() as u32));
            l.keys.push(KeyState {
                max: limit.max_concurrent,
                in_use: 0,
                bucket,
            });
        }
        Ok(l)
    }

    /// Whether no key is configured (then every node is unrestricted).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of configured keys; their ids are `0..len()`.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Maps a node's key names to configured ids, dropping unconfigured and
    /// duplicate keys (a duplicate would otherwise block the node on itself).
    pub fn resolve(&self, names: &[String]) -> Vec<KeyId> {
        let mut ids: Vec<KeyId> = names
            .iter()
            .filter_map(|k| self.ids.get(k).copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn blocks(&self, key: KeyId, now: Instant) -> bool {
        let k = &self.keys[key.0 as usize];
        k.max.is_some_and(|m| k.in_use >= m) || k.bucket.as_ref().is_some_and(|b| !b.admits(now))
    }

    /// Whether `key` alone would admit one more node at `now`.
    pub fn available(&self, key: KeyId, now: Instant) -> bool {
        !self.blocks(key, now)
    }

    /// All-or-nothing: if every key admits a node at `now`, takes a slot and
    /// a token from each; otherwise takes nothing and returns the first key
    /// that blocks.
    pub fn try_acquire(&mut self, keys: &[KeyId], now: Instant) -> Result<(), KeyId> {
        if let Some(&k) = keys.iter().find(|&&k| self.blocks(k, now)) {
            return Err(k);
        }
        for k in keys {
            let k = &mut self.keys[k.0 as usize];
            k.in_use += 1;
            if let Some(b) = &mut k.bucket {
                b.take(now);
            }
        }
        Ok(())
    }

    /// Returns the concurrency slots taken by a successful
    /// [`try_acquire`](Self::try_acquire). Tokens are not returned.
    pub fn release(&mut self, keys: &[KeyId]) {
        for k in keys {
            let k = &mut self.keys[k.0 as usize];
            k.in_use = k.in_use.checked_sub(1).expect("release without acquire");
        }
    }

    /// If `key` is blocked only by its token bucket, the instant it admits
    /// again; `None` if it admits now or waits for a running node to release
    /// a slot (then no timer is needed).
    pub fn next_admission(&self, key: KeyId, now: Instant) -> Option<Instant> {
        let k = &self.keys[key.0 as usize];
        if k.max.is_some_and(|m| k.in_use >= m) {
            return None;
        }
        k.bucket
            .as_ref()
            .filter(|b| !b.admits(now))
            .map(Gcra::ready_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limits: &[(&str, Limit)], now: Instant) -> Limiter {
        let map = limits.iter().map(|(k, l)| (k.to_string(), *l)).collect();
        Limiter::new(&map, now).unwrap()
    }

    fn names(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn concurrency_is_all_or_nothing_across_keys() {
        let t = Instant::now();
        let mut l = limiter(
            &[("a", Limit::concurrent(1)), ("b", Limit::concurrent(2))],
            t,
        );
        let ab = l.resolve(&names(&["b", "a", "a", "other"]));
        let b = l.resolve(&names(&["b"]));
        assert_eq!(ab, [KeyId(0), KeyId(1)], "sorted, deduped, unknown dropped");
        l.try_acquire(&ab, t).unwrap();
        // "a" is full, so nothing is taken from "b" either.
        assert_eq!(l.try_acquire(&ab, t), Err(KeyId(0)));
        l.try_acquire(&b, t).unwrap();
        assert_eq!(l.try_acquire(&b, t), Err(KeyId(1)));
        assert_eq!(
            l.next_admission(KeyId(1), t),
            None,
            "waits for a release, not a timer"
        );
        l.release(&ab);
        assert!(l.available(KeyId(0), t) && l.available(KeyId(1), t));
    }

    #[test]
    fn token_bucket_allows_burst_then_spaces_admissions() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut l = limiter(&[("api", Limit::rate(2, 10.0))], t0);
        let k = l.resolve(&names(&["api"]));
        let mut starts = Vec::new();
        let mut now = t0;
        while starts.len() < 5 {
            match l.try_acquire(&k, now) {
                Ok(()) => starts.push(now - t0),
                Err(key) => now = l.next_admission(key, now).expect("only the bucket blocks"),
            }
        }
        let expected: Vec<Duration> = [0, 0, 100, 200, 300].map(Duration::from_millis).into();
        assert_eq!(starts, expected);
        // After a quiet second the bucket is full again, but holds only 2.
        assert!(l.try_acquire(&k, ms(1300)).is_ok());
        assert!(l.try_acquire(&k, ms(1300)).is_ok());
        assert!(l.try_acquire(&k, ms(1300)).is_err());
    }

    #[test]
    fn reserved_tokens_are_spaced_and_refill_while_idle() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut b = Gcra::new(
            TokenBucket {
                burst: 2,
                per_second: 10.0,
            },
            t0,
        )
        .unwrap();
        // Four callers at once: the burst, then one every 100 ms.
        let starts: Vec<Instant> = (0..4).map(|_| b.reserve(t0)).collect();
        assert_eq!(starts, [ms(0), ms(0), ms(100), ms(200)]);
        // A caller arriving after the last reservation but before its slot queues behind it.
        assert_eq!(b.reserve(ms(150)), ms(300));
        // Idle long enough for the whole burst to refill: two at once again, no more.
        assert_eq!(b.reserve(ms(1000)), ms(1000));
        assert_eq!(b.reserve(ms(1000)), ms(1000));
        assert_eq!(b.reserve(ms(1000)), ms(1100));
        // Reserving agrees with the walker's admit-and-take.
        assert!(!b.admits(ms(1100)) && b.admits(ms(1200)));
        assert_eq!(b.ready_at(), ms(1200));
    }

    #[test]
    fn invalid_limits_are_rejected() {
        let t = Instant::now();
        for (limit, reason) in [
            (Limit::concurrent(0), "max_concurrent must be at least 1"),
            (Limit::rate(0, 1.0), "burst must be at least 1"),
            (Limit::rate(1, 0.0), "per_second must be in (0, 1e9]"),
            (Limit::rate(1, f64::NAN), "per_second must be in (0, 1e9]"),
        ] {
            let map = HashMap::from([("k".to_string(), limit)]);
            assert_eq!(Limiter::new(&map, t).unwrap_err().reason, reason);
            if let Some(rate) = limit.rate {
                assert_eq!(Gcra::new(rate, t).unwrap_err(), reason);
            }
        }
        let huge = TokenBucket {
            burst: 1,
            per_second: 2e9,
        };
        assert_eq!(
            Gcra::new(huge, t).unwrap_err(),
            "per_second must be in (0, 1e9]"
        );
    }
}
