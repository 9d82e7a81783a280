//! The engine's wall clock, injected: the system's in production, one the
//! test moves by hand in in-process tests, so a deadline passes exactly
//! when the test says so.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

/// Where the engine reads the time. Cloning shares the clock.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some`: a clock that moves only when
    /// [`Clock::advance`] is called; the engine's sleeps wait on it.
    manual: Option<Arc<watch::Sender<Timestamp>>>,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock standing at `start` until it is advanced.
    pub fn manual(start: Timestamp) -> Clock {
        Clock {
            manual: Some(Arc::new(watch::channel(start).0)),
        }
    }

    pub fn now(&self) -> Timestamp {
        match &self.manual {
            None => Timestamp::now(),
            Some(t) => *t.borrow(),
        }
    }

    /// Moves a manual clock forward (the system clock can't be moved).
    pub fn advance(&self, by: SignedDuration) {
        if let Some(t) = &self.manual {
            t.send_modify(|now| *now = now.saturating_add(by).unwrap_or(*now));
        } else {
            tracing::warn!("the system clock can't be advanced");
        }
    }

    /// Resolves once the clock reaches `at`. The system clock is also
    /// looked at again after `recheck` at the latest: the monotonic timer
    /// stops during suspend, the wall clock doesn't.
    pub async fn sleep_until(&self, at: Timestamp, recheck: Duration) {
        match &self.manual {
            None => {
                let ms = (at.as_millisecond() - Timestamp::now().as_millisecond()).max(0) as u64;
                tokio::time::sleep(Duration::from_millis(ms).min(recheck)).await;
            }
            Some(t) => {
                let mut rx = t.subscribe();
                // The sender lives as long as this clock: this only ends
                // when the clock gets there.
                let _ = rx.wait_for(|now| *now >= at).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_its_sleepers_exactly_at_the_time() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let clock = Clock::manual(start);
        let at = start + SignedDuration::from_secs(60);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(at, Duration::ZERO).await }
        });
        clock.advance(SignedDuration::from_secs(59));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        assert_eq!(clock.now(), at - SignedDuration::from_secs(1));
        clock.advance(SignedDuration::from_secs(1));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), at);
    }
}
