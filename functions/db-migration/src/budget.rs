//! Time limits derived from the time the request has left, so that a refused connection, a
//! server that accepts and then says nothing, or a statement that never ends is a FAILED with
//! a reason well before the protocol library's deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::Error;

/// Longest wait for a TCP connection and the database's handshake.
pub const MAX_CONNECT: Duration = Duration::from_secs(10);
/// Shortest limit ever given: below this nothing useful can happen anyway.
const FLOOR: Duration = Duration::from_millis(200);

/// The time kept back at the end of the request to release the lock and close the
/// connection: a tenth, between 0.25 and 2 seconds.
pub fn reserve(remaining: Duration) -> Duration {
    (remaining / 10).clamp(Duration::from_millis(250), Duration::from_secs(2))
}

/// What may be spent on work with `remaining` left.
pub fn usable(remaining: Duration) -> Duration {
    remaining.saturating_sub(reserve(remaining)).max(FLOOR)
}

/// How long a connection (TCP, TLS, authentication) may take with `remaining` left: a third of
/// the usable time, at most [`MAX_CONNECT`], so a silent server leaves time to say so.
pub fn connect_timeout(remaining: Duration) -> Duration {
    (usable(remaining) / 3).clamp(FLOOR, MAX_CONNECT)
}

/// The deadline one request works against.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    /// A budget ending at `deadline` (the request's, which already keeps time to answer).
    pub fn new(deadline: Instant) -> Self {
        Self { deadline }
    }

    /// Time left before the request's deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// See [`connect_timeout`].
    pub fn connect_timeout(&self) -> Duration {
        connect_timeout(self.remaining())
    }

    /// How long one statement may run: all the usable time left.
    pub fn statement_timeout(&self) -> Duration {
        usable(self.remaining())
    }

    /// How long cleanup (unlock, close) may take.
    pub fn cleanup_timeout(&self) -> Duration {
        reserve(self.remaining()).max(Duration::from_millis(250))
    }

    /// Runs `work` for at most the statement timeout.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming `what` was being done; `work`'s own result is returned as is.
    pub async fn within<T>(&self, what: &str, work: impl Future<Output = T>) -> Result<T, Error> {
        let limit = self.statement_timeout();
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| Error::Timeout {
                what: what.to_owned(),
                after: limit,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn connect_timeouts_leave_room_to_report() {
        // A 30 s function: the library stops the resource at 27 s; 2 s are kept for cleanup,
        // and a silent server is reported after a third of the rest.
        assert_eq!(connect_timeout(secs(27.0)), secs(25.0) / 3);
        assert_eq!(connect_timeout(secs(800.0)), MAX_CONNECT);
        assert_eq!(connect_timeout(secs(3.0)), secs(2.7) / 3);
        assert_eq!(connect_timeout(secs(0.1)), FLOOR);
        for s in [1.0, 5.0, 10.0, 27.0, 100.0, 900.0] {
            assert!(connect_timeout(secs(s)) < secs(s) / 2, "{s}");
        }
    }

    #[test]
    fn the_reserve_is_a_tenth_within_bounds() {
        assert_eq!(reserve(secs(1.0)), secs(0.25));
        assert_eq!(reserve(secs(10.0)), secs(1.0));
        assert_eq!(reserve(secs(900.0)), secs(2.0));
        assert_eq!(usable(secs(10.0)), secs(9.0));
        assert_eq!(usable(secs(0.0)), FLOOR);
    }

    #[tokio::test]
    async fn work_that_outlives_the_budget_is_a_timeout_naming_it() {
        let budget = Budget::new(Instant::now() + Duration::from_millis(600));
        let err = budget
            .within(
                "applying migration 3",
                tokio::time::sleep(Duration::from_secs(5)),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("applying migration 3"), "{err}");
    }
}
