//! The migration lock: the very key sqlx's migrator takes, so this function, another copy of
//! it, and `sqlx migrate run` on a laptop exclude one another. sqlx waits for it forever; this
//! function tries it in a loop and gives up after `LockTimeoutSeconds`.

use std::time::Duration;

/// The CRC sqlx uses (`crc::CRC_32_ISO_HDLC`, the IEEE one).
const CRC_IEEE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
/// sqlx's multiplier ("chosen by fair dice roll").
const MULTIPLIER: i64 = 0x3d32_ad9e;

/// PostgreSQL's advisory lock key for `database`, as sqlx-postgres 0.9 derives it from
/// `current_database()` (`generate_lock_id` in its `migrate.rs`).
pub fn postgres_key(database: &str) -> i64 {
    MULTIPLIER * i64::from(CRC_IEEE.checksum(database.as_bytes()))
}

/// MySQL's `GET_LOCK` name for `database`, as sqlx-mysql 0.9 derives it from `DATABASE()`:
/// the same number, in lowercase hex. (`GET_LOCK` names are server-wide, hence the database
/// in the key.)
pub fn mysql_key(database: &str) -> String {
    format!("{:x}", postgres_key(database))
}

/// The pause before try number `attempt` (1-based): 50 ms doubling to 1 s, with jitter so that
/// runs that started together do not keep colliding.
pub fn pause(attempt: u32) -> Duration {
    let base = Duration::from_millis(50)
        .saturating_mul(1 << attempt.saturating_sub(1).min(5))
        .min(Duration::from_secs(1));
    // Half fixed, half random: a pause never collapses to zero.
    base / 2 + base.mul_f64(fastrand::f64() / 2.0)
}

/// What one look at the lock decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again after this pause.
    Retry(Duration),
    /// Waited long enough: give up.
    GiveUp,
}

/// Whether to try again after `waited` with `limit` to wait, `left` before the work deadline.
pub fn next(attempt: u32, waited: Duration, limit: Duration, left: Duration) -> Next {
    let pause = pause(attempt);
    if waited >= limit || pause >= left {
        Next::GiveUp
    } else {
        Next::Retry(pause.min(limit - waited))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_sqlx() {
        // sqlx: 0x3d32ad9e * crc32("…") as i64, computed with the crate sqlx itself uses.
        assert_eq!(postgres_key(""), 0);
        let crc = i64::from(crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(b"app"));
        assert_eq!(postgres_key("app"), 0x3d32ad9e * crc);
        // The IEEE CRC-32 of "123456789" is the catalogue's check value 0xCBF43926.
        assert_eq!(postgres_key("123456789"), 0x3d32ad9e_i64 * 0xCBF4_3926_i64);
        assert_eq!(
            mysql_key("123456789"),
            format!("{:x}", 0x3d32ad9e_i64 * 0xCBF4_3926_i64)
        );
        assert_ne!(postgres_key("app"), postgres_key("app2"));
    }

    #[test]
    fn pauses_grow_to_a_second_and_never_vanish() {
        for attempt in 1..20 {
            let p = pause(attempt);
            assert!(
                p >= Duration::from_millis(25) && p <= Duration::from_secs(1),
                "{p:?}"
            );
        }
        assert!(pause(1) <= Duration::from_millis(50));
        assert!(pause(10) >= Duration::from_millis(500));
    }

    #[test]
    fn gives_up_at_the_limit_or_the_deadline() {
        let s = Duration::from_secs;
        assert!(matches!(next(1, s(0), s(60), s(20)), Next::Retry(_)));
        assert_eq!(next(3, s(60), s(60), s(20)), Next::GiveUp);
        assert_eq!(next(3, s(0), s(0), s(20)), Next::GiveUp);
        assert_eq!(
            next(9, s(5), s(60), Duration::from_millis(10)),
            Next::GiveUp
        );
        match next(9, Duration::from_millis(900), s(1), s(20)) {
            Next::Retry(p) => assert!(p <= Duration::from_millis(100)),
            Next::GiveUp => panic!("there were 100 ms left to wait"),
        }
    }
}
