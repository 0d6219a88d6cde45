//! When each worker sends its next request: closed loop with think time, or open loop
//! at intended times shared by all workers (evenly spaced or a Poisson process).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Arrivals, Pacing, Stop};

/// The run's clock and limits, shared by the workers.
#[derive(Debug)]
pub(crate) struct Schedule {
    start: Instant,
    end: Option<Instant>,
    limit: Option<u64>,
    pacing: Pacing,
    /// Requests handed out so far (open loop, or closed loop with a request limit).
    issued: AtomicU64,
    /// Poisson arrivals: the offset of the next intended time from the start, and the
    /// generator of the gaps.
    poisson: Mutex<(Duration, fastrand::Rng)>,
}

impl Schedule {
    /// The schedule of a run starting at `start`; `seed` fixes the Poisson gaps.
    pub(crate) fn new(start: Instant, stop: Stop, pacing: Pacing, seed: u64) -> Self {
        Schedule {
            start,
            end: stop.duration.map(|d| start + d),
            limit: stop.requests,
            pacing,
            issued: AtomicU64::new(0),
            poisson: Mutex::new((Duration::ZERO, fastrand::Rng::with_seed(seed))),
        }
    }

    /// When the run started.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// Wait for the next request's turn and return the time it is due, from which its
    /// latency counts; `None` when the run is over.
    ///
    /// Open loop: the next free worker takes the next intended time (`start + i/rate`, or
    /// the next arrival of the Poisson process); a time already past waited in the queue,
    /// and that wait is part of its latency.
    pub(crate) async fn next(&self) -> Option<Instant> {
        match self.pacing {
            Pacing::Closed { .. } => {
                let now = Instant::now();
                if self.end.is_some_and(|end| now >= end) || self.take_ticket().is_none() {
                    return None;
                }
                Some(now)
            }
            Pacing::Open { rate, arrivals } => {
                let offset = match arrivals {
                    Arrivals::Uniform => Duration::from_secs_f64(self.take_ticket()? as f64 / rate),
                    Arrivals::Poisson => {
                        let mut next = self.poisson.lock().unwrap_or_else(|e| e.into_inner());
                        self.take_ticket()?;
                        let (offset, rng) = &mut *next;
                        let due = *offset;
                        *offset += exponential_gap(rate, rng);
                        due
                    }
                };
                let due = self.start + offset;
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

/// A gap of a Poisson process of `rate` per second: exponential with mean `1/rate`.
fn exponential_gap(rate: f64, rng: &mut fastrand::Rng) -> Duration {
    // 1 - f64() lies in (0, 1], so the logarithm is finite.
    Duration::from_secs_f64(-(1.0 - rng.f64()).ln() / rate)
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
        let schedule = Schedule::new(Instant::now(), stop, Pacing::default(), 1);
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
        let pacing = Pacing::Open {
            rate: 100.0,
            arrivals: Arrivals::Uniform,
        };
        let schedule = Schedule::new(start, stop, pacing, 1);
        let mut due = Vec::new();
        while let Some(t) = schedule.next().await {
            due.push(t - start);
        }
        let ms = Duration::from_millis;
        assert_eq!(due, [ms(0), ms(10), ms(20), ms(30)]);
        assert!(start.elapsed() >= ms(30));
    }

    #[test]
    fn exponential_gaps_have_the_rate_and_spread_of_a_poisson_process() {
        let mut rng = fastrand::Rng::with_seed(11);
        let gaps: Vec<f64> = (0..100_000)
            .map(|_| exponential_gap(200.0, &mut rng).as_secs_f64())
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 0.005).abs() < 0.0001, "mean gap {mean}");
        // An exponential law: P(gap > mean) = 1/e.
        let over = gaps.iter().filter(|g| **g > 0.005).count() as f64 / gaps.len() as f64;
        assert!(
            (over - (-1f64).exp()).abs() < 0.01,
            "P(gap > mean) = {over}"
        );
    }

    #[tokio::test]
    async fn poisson_times_are_increasing_and_fixed_by_the_seed() {
        let stop = Stop {
            duration: None,
            requests: Some(50),
        };
        let pacing = Pacing::Open {
            rate: 1_000_000.0,
            arrivals: Arrivals::Poisson,
        };
        let start = Instant::now();
        let times = |seed| async move {
            let schedule = Schedule::new(start, stop, pacing, seed);
            let mut due = Vec::new();
            while let Some(t) = schedule.next().await {
                due.push(t - start);
            }
            due
        };
        let a = times(5).await;
        assert_eq!(a.len(), 50);
        assert!(a.windows(2).all(|w| w[0] <= w[1]), "{a:?}");
        assert_eq!(a, times(5).await);
        assert_ne!(a, times(6).await);
    }
}
