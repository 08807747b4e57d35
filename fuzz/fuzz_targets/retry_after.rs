//! `Retry-After` (`retry::parse_retry_after`) on any header text.
//!
//! Asserted: no panic; digits read as that many seconds; any other number only from 0 to 1e9
//! seconds; a date only as the time from now to it (zero when past); anything else `None`.
#![no_main]

use std::time::{Duration, SystemTime};

use http_resource::retry::parse_retry_after;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let got = parse_retry_after(text, now);
    let trimmed = text.trim();
    if let Ok(seconds) = trimmed.parse::<u64>() {
        assert_eq!(got, Some(Duration::from_secs(seconds)));
    } else if let Ok(seconds) = trimmed.parse::<f64>() {
        match got {
            Some(d) => assert!(seconds.is_finite() && d.as_secs_f64() < 1e9 && seconds >= 0.0),
            None => assert!(!(seconds.is_finite() && (0.0..1e9).contains(&seconds))),
        }
    } else if let Ok(at) = httpdate::parse_http_date(trimmed) {
        assert_eq!(got, Some(at.duration_since(now).unwrap_or(Duration::ZERO)));
    } else {
        assert_eq!(got, None, "{text:?}");
    }
});
