//! When each worker sends its next request: closed loop with think time, or open loop
//! at fixed intended times shared by all workers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Pacing, Stop};

/// The run's clock and limits, shared by the workers.
#[derive(Debug)]
pub(crate) struct Schedule {
    start: Instant,
    end: Option<Instant>,
    limit: Option<u64>,
    pacing: Pacing,
    /// Requests handed out so far (open loop, or closed loop with a request limit).
    issued: AtomicU64,
}

impl Schedule {
    pub(crate) fn new(start: Instant, stop: Stop, pacing: Pacing) -> Self {
        Schedule {
            start,
            end: stop.duration.map(|d| start + d),
            limit: stop.requests,
            pacing,
            issued: AtomicU64::new(0),
        }
    }

    /// When the run started.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// Wait for the next request's turn and return the time it is due, from which its
    /// latency counts; `None` when the run is over.
    ///
    /// Open loop: the next free worker takes the next slot `start + i/rate`; a slot
    /// already past waited in the queue, and that wait is part of its latency.
    pub(crate) async fn next(&self) -> Option<Instant> {
        match self.pacing {
            Pacing::Closed { .. } => {
                let now = Instant::now();
                if self.end.is_some_and(|end| now >= end) || self.take_ticket().is_none() {
                    return None;
                }
                Some(now)
            }
            Pacing::Open { rate } => {
                let i = self.take_ticket()?;
                let due = self.start + Duration::from_secs_f64(i as f64 / rate);
                if self.end.is_some_and(|end| due >= end) {
                    return None;
                }
                if due > Instant::now() {
                    tokio::time::sleep_until(due).await;
                }
                Some(due)
            }
        }
    }

    /// Closed loop: pause for the think time after a response (never past the end).
    pub(crate) async fn think(&self, rng: &mut fastrand::Rng) {
        if let Pacing::Closed { think, jitter } = self.pacing {
            let pause = think_time(think, jitter, rng);
            if !pause.is_zero() {
                let wake = Instant::now() + pause;
                tokio::time::sleep_until(self.end.map_or(wake, |end| wake.min(end))).await;
            }
        }
    }

    /// The index of the next request, or `None` past the request limit. The counter is
    /// only touched when it is needed, keeping the closed loop free of shared writes.
    fn take_ticket(&self) -> Option<u64> {
        if self.limit.is_none() && matches!(self.pacing, Pacing::Closed { .. }) {
            return Some(0);
        }
        let i = self.issued.fetch_add(1, Ordering::Relaxed);
        match self.limit {
            Some(limit) if i >= limit => None,
            _ => Some(i),
        }
    }
}

/// `think` ± uniform `jitter`, never negative.
fn think_time(think: Duration, jitter: Duration, rng: &mut fastrand::Rng) -> Duration {
    if jitter.is_zero() {
        return think;
    }
    let jitter = jitter.as_micros() as i64;
    let micros = think.as_micros() as i64 + rng.i64(-jitter..=jitter);
    Duration::from_micros(micros.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn think_time_stays_within_jitter() {
        let mut rng = fastrand::Rng::with_seed(7);
        let ms = Duration::from_millis;
        for _ in 0..1000 {
            let t = think_time(ms(20), ms(2), &mut rng);
            assert!(t >= ms(18) && t <= ms(22), "{t:?}");
        }
        assert!(think_time(ms(1), ms(5), &mut rng) <= ms(6));
    }

    #[tokio::test]
    async fn request_limit_ends_the_closed_loop() {
        let stop = Stop {
            duration: None,
            requests: Some(3),
        };
        let schedule = Schedule::new(Instant::now(), stop, Pacing::default());
        let mut n = 0;
        while schedule.next().await.is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn open_loop_slots_are_fixed_intended_times() {
        let start = Instant::now();
        let stop = Stop {
            duration: Some(Duration::from_millis(40)),
            requests: None,
        };
        let schedule = Schedule::new(start, stop, Pacing::Open { rate: 100.0 });
        let mut due = Vec::new();
        while let Some(t) = schedule.next().await {
            due.push(t - start);
        }
        let ms = Duration::from_millis;
        assert_eq!(due, [ms(0), ms(10), ms(20), ms(30)]);
        assert!(start.elapsed() >= ms(30));
    }
}
