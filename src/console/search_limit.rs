//! How fast one person may search: a number typed into a search box is the one way to ask the
//! store about a citizen without knowing a folio, so searching must not be a way to try every
//! number. Each signed-in account may run [`PER_MINUTE`] new searches a minute (a burst of as
//! many at once), far above what a person at a desk types and far below what a script needs.
//!
//! A search repeated as it is (the inbox's polling every few seconds, a page of results, the
//! spreadsheet of what is on screen) is not a new one and costs nothing. The count is kept in
//! this instance's memory (GCRA, through `governor`): behind a balancer each instance counts
//! its own, which multiplies the limit by the instances but keeps it a limit.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

/// New searches an account may run in a minute.
pub const PER_MINUTE: u32 = 20;

/// The accounts' searches, shared by every request of this instance.
#[derive(Clone)]
pub struct SearchLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<i64>>,
    /// Each account's last search allowed, as a hash: repeating it is free.
    last: Arc<Mutex<HashMap<i64, u64>>>,
}

impl SearchLimiter {
    pub fn new() -> SearchLimiter {
        let per_minute = NonZeroU32::new(PER_MINUTE).expect("not zero");
        SearchLimiter {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            last: Arc::default(),
        }
    }

    /// Whether `user` may search for `term` now: an empty term or the user's last search
    /// always; a new term while the account has searches left.
    pub fn allow(&self, user: i64, term: &str) -> bool {
        let term = term.trim();
        if term.is_empty() {
            return true;
        }
        let mut hasher = DefaultHasher::new();
        term.hash(&mut hasher);
        let hash = hasher.finish();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.get(&user) == Some(&hash) {
            return true;
        }
        if self.limiter.check_key(&user).is_err() {
            return false;
        }
        last.insert(user, hash);
        true
    }
}

impl Default for SearchLimiter {
    fn default() -> Self {
        SearchLimiter::new()
    }
}

impl std::fmt::Debug for SearchLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchLimiter")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_searches_are_limited_and_repeats_are_free() {
        let limiter = SearchLimiter::new();
        for n in 0..PER_MINUTE {
            assert!(limiter.allow(1, &format!("55123419{n:02}")), "search {n}");
        }
        assert!(!limiter.allow(1, "5512341999"), "one more new search");
        // The last one allowed, again (the inbox polling with it), and an empty box.
        assert!(limiter.allow(1, &format!("55123419{:02}", PER_MINUTE - 1)));
        assert!(limiter.allow(1, ""));
        // Another account has its own searches.
        assert!(limiter.allow(2, "5512341999"));
    }
}
