//! The OTLP/HTTP failure rules: which answers are retried, how long to wait, and when to give up.
//!
//! From the OTLP specification ("OTLP/HTTP Response", "Retryable Response Codes"):
//! 429, 502, 503 and 504 are retryable, and so are failures to connect or to get any answer;
//! every other 4xx or 5xx is final. A retryable answer may carry `Retry-After` (seconds or an
//! HTTP-date), which we honour up to [`RetryPolicy::max_retry_after`]; otherwise we wait an
//! exponential backoff with jitter. All attempts of one request together stay within
//! [`RetryPolicy::max_elapsed`] (`OTEL_BSP_EXPORT_TIMEOUT`): a wait that would end past it
//! is not started, and the request is dropped and counted instead.

use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::error::Error;

/// When and how long to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_elapsed: Duration,
    pub(crate) max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The first backoff (default 1 s); each retry doubles it, up to `max_backoff`.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }
    /// The longest backoff (default 30 s).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }
    /// Total time one request may spend, all attempts and waits together (default 30 s,
    /// `OTEL_BSP_EXPORT_TIMEOUT`). `Duration::ZERO` means a single attempt, no retries.
    pub fn max_elapsed(mut self, d: Duration) -> Self {
        self.max_elapsed = d;
        self
    }
    /// The time one batch may spend in retries, all attempts together.
    pub fn max_elapsed_setting(&self) -> Duration {
        self.max_elapsed
    }

    /// The longest `Retry-After` honoured (default 30 s); a longer one is cut to this.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let day = Duration::from_secs(86_400);
        if self.max_backoff > day || self.max_elapsed > day || self.max_retry_after > day {
            return Err(Error::config(
                "retry policy",
                format!("{self:?}"),
                "backoffs, Retry-After cap and budget must each be at most a day",
            ));
        }
        if self.initial_backoff.is_zero() || self.initial_backoff > self.max_backoff {
            return Err(Error::config(
                "retry initial_backoff",
                format!("{:?}", self.initial_backoff),
                "must be above zero and at most max_backoff",
            ));
        }
        Ok(())
    }

    /// The wait before retry number `retry` (0 for the first retry): `initial * 2^retry`,
    /// capped at `max_backoff`, then scaled by a jitter factor in `[0.5, 1.0)` drawn from
    /// `random` so that exporters that failed together do not retry together.
    pub(crate) fn backoff(&self, retry: u32, random: u64) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        // half + half * (32 random bits / 2^32): a factor in [0.5, 1), in integers so the
        // upper bound stays exclusive.
        let half = base.as_nanos() / 2;
        let jitter = (half * u128::from(random >> 32)) >> 32;
        Duration::from_nanos(u64::try_from(half + jitter).unwrap_or(u64::MAX))
    }
}

/// What an answer means for the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// 2xx: accepted (maybe partly; see the response body).
    Accepted,
    /// Try again later.
    Retry,
    /// Final failure: do not send this again.
    Fatal,
}

pub(crate) fn classify(status: StatusCode) -> Verdict {
    match status.as_u16() {
        200..=299 => Verdict::Accepted,
        429 | 502 | 503 | 504 => Verdict::Retry,
        _ => Verdict::Fatal,
    }
}

/// The delay a `Retry-After` value asks for: delta-seconds, or an HTTP-date (a date in the
/// past means now). `None` for a value that is neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_codes_are_exactly_the_specs() {
        for code in [429, 502, 503, 504] {
            assert_eq!(
                classify(StatusCode::from_u16(code).unwrap()),
                Verdict::Retry
            );
        }
        for code in [400, 401, 403, 404, 408, 413, 415, 500, 501, 505] {
            assert_eq!(
                classify(StatusCode::from_u16(code).unwrap()),
                Verdict::Fatal,
                "{code}"
            );
        }
        assert_eq!(classify(StatusCode::OK), Verdict::Accepted);
        assert_eq!(classify(StatusCode::ACCEPTED), Verdict::Accepted);
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_half() {
        let p = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_secs(1));
        assert_eq!(p.backoff(0, 0), Duration::from_millis(50));
        assert!(p.backoff(0, u64::MAX) < Duration::from_millis(100));
        assert_eq!(p.backoff(2, 0), Duration::from_millis(200));
        assert_eq!(p.backoff(10, 0), Duration::from_millis(500));
        assert_eq!(p.backoff(u32::MAX, 0), Duration::from_millis(500));
        let mid = p.backoff(1, 1 << 63);
        assert!(mid > Duration::from_millis(149) && mid < Duration::from_millis(151));
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // RFC 9110's example date is 2015-10-21 07:28:00 GMT = 1445412480.
        let later = "Wed, 21 Oct 2015 07:28:30 GMT";
        assert_eq!(parse_retry_after(later, now), Some(Duration::from_secs(30)));
        let earlier = "Wed, 21 Oct 2015 07:27:00 GMT";
        assert_eq!(parse_retry_after(earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
