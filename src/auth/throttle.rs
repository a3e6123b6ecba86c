//! Login throttling per account and per client address, so that neither guessing one account's
//! password nor spraying many accounts from one address gets far.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Above this many remembered keys, forget those whose quota has fully replenished.
const RETAIN_ABOVE: usize = 10_000;

pub struct LoginThrottle {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl LoginThrottle {
    pub fn new(per_account_per_minute: u32, per_address_per_minute: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            per_account: RateLimiter::keyed(quota(per_account_per_minute)),
            per_address: RateLimiter::keyed(quota(per_address_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt; `Err` holds the seconds to wait when either quota is spent.
    pub fn check(&self, account: &str, address: IpAddr) -> Result<(), u64> {
        self.check_address(address)?;
        if self.per_account.len() > RETAIN_ABOVE {
            self.per_account.retain_recent();
        }
        self.per_account
            .check_key(&account.to_owned())
            .map_err(|not_until| self.wait(not_until))
    }

    /// Counts one attempt that names no account (an invitation token) against the address.
    pub fn check_address(&self, address: IpAddr) -> Result<(), u64> {
        if self.per_address.len() > RETAIN_ABOVE {
            self.per_address.retain_recent();
        }
        self.per_address
            .check_key(&address)
            .map_err(|not_until| self.wait(not_until))
    }

    fn wait(&self, not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> u64 {
        not_until.wait_time_from(self.clock.now()).as_secs() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_the_account_quota_then_asks_to_wait() {
        let throttle = LoginThrottle::new(3, 100);
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..3 {
            assert!(throttle.check("a@city.jp", ip).is_ok());
        }
        let wait = throttle.check("a@city.jp", ip).unwrap_err();
        assert!((1..=21).contains(&wait), "{wait}");
        assert!(throttle.check("b@city.jp", ip).is_ok());
    }

    #[test]
    fn spends_the_address_quota_across_accounts() {
        let throttle = LoginThrottle::new(100, 2);
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert!(throttle.check("a@city.jp", ip).is_ok());
        assert!(throttle.check("b@city.jp", ip).is_ok());
        assert!(throttle.check("c@city.jp", ip).is_err());
        assert!(throttle.check("c@city.jp", [10, 0, 0, 2].into()).is_ok());
    }
}
