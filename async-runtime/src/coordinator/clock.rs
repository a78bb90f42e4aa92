//! The run's training clock. Training time starts at the first broadcast (launching and the
//! workers' joining are not training), leaves out the pauses (observers, shipping data), and
//! goes on from the training time of the checkpoint a run resumed from, so that a resumed
//! run's times continue the interrupted one's.
//!
//! [`RunClock`] is the one owner of this state; its tests pass instants in, so they never
//! sleep.

use std::time::{Duration, Instant};

/// Training time so far: since the first use, less the pauses, plus the resumed offset.
#[derive(Debug, Default)]
pub(crate) struct RunClock {
    /// The first broadcast, once there was one.
    started: Option<Instant>,
    /// Time since `started` that was not training.
    paused: Duration,
    /// Seconds of training before the checkpoint this run resumed from.
    resumed_s: f64,
    /// The start of a pause going on (the wait for the workers' data), left out already: a
    /// time limit checked during the wait counted it, and ended a run whose workers took
    /// longer than the limit to read their splits before its first update.
    pausing_since: Option<Instant>,
}

impl RunClock {
    /// Starts the clock now, unless it already runs: only the first use counts.
    pub fn start(&mut self) {
        self.start_at(Instant::now());
    }

    /// Leaves `pause` out of the training time. A pause before the start is ignored: that
    /// time is not counted anyway.
    pub fn add_pause(&mut self, pause: Duration) {
        // The pause going on, if any, is this one, now over.
        self.pausing_since = None;
        if self.started.is_some() {
            self.paused += pause;
        }
    }

    /// A pause began at `begun` and goes on: it is left out of the training time as it goes,
    /// until [`RunClock::add_pause`] leaves it out whole.
    pub fn begin_pause(&mut self, begun: Instant) {
        self.pausing_since = Some(begun);
    }

    /// Counts `seconds` of training done before this run, in the run of a checkpoint.
    pub fn resume_from(&mut self, seconds: f64) {
        self.resumed_s = seconds;
    }

    /// Seconds of training so far.
    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_s_at(Instant::now())
    }

    /// The time left out so far.
    #[cfg(test)]
    pub fn paused(&self) -> Duration {
        self.paused
    }

    fn start_at(&mut self, now: Instant) {
        self.started.get_or_insert(now);
    }

    fn elapsed_s_at(&self, now: Instant) -> f64 {
        let since_start = self.started.map_or(Duration::ZERO, |started| {
            // Of a pause going on, only its part since the start counts as one.
            let pausing = self.pausing_since.map_or(Duration::ZERO, |begun| {
                now.saturating_duration_since(begun.max(started))
            });
            now.saturating_duration_since(started)
                .saturating_sub(self.paused)
                .saturating_sub(pausing)
        });
        self.resumed_s + since_start.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn elapsed_leaves_out_the_pauses() {
        let mut clock = RunClock::default();
        let t0 = Instant::now();
        clock.start_at(t0);
        clock.add_pause(2 * SECOND);
        clock.add_pause(SECOND);
        assert_eq!(clock.elapsed_s_at(t0 + 10 * SECOND), 7.0);
    }

    #[test]
    fn before_the_start_it_reads_the_resumed_offset() {
        let mut clock = RunClock::default();
        assert_eq!(clock.elapsed_s(), 0.0);
        clock.resume_from(42.5);
        assert_eq!(clock.elapsed_s(), 42.5);
        // A pause before the start takes nothing off.
        clock.add_pause(5 * SECOND);
        assert_eq!(clock.elapsed_s(), 42.5);
        let t0 = Instant::now();
        clock.start_at(t0);
        assert_eq!(clock.elapsed_s_at(t0 + 3 * SECOND), 45.5);
    }

    #[test]
    fn a_pause_going_on_is_left_out_before_it_ends() {
        // Workers reading their splits for 20 s after the first broadcast: a time limit
        // checked meanwhile read 20 s of training and ended the run before its first update.
        let mut clock = RunClock::default();
        let t0 = Instant::now();
        clock.start_at(t0);
        clock.begin_pause(t0 + 2 * SECOND);
        assert_eq!(clock.elapsed_s_at(t0 + 20 * SECOND), 2.0);
        clock.add_pause(18 * SECOND);
        assert_eq!(clock.elapsed_s_at(t0 + 21 * SECOND), 3.0);
        // A pause begun before the start counts from the start.
        let mut clock = RunClock::default();
        clock.begin_pause(t0);
        clock.start_at(t0 + SECOND);
        assert_eq!(clock.elapsed_s_at(t0 + 5 * SECOND), 0.0);
    }

    #[test]
    fn starting_twice_keeps_the_first_instant() {
        let mut clock = RunClock::default();
        let t0 = Instant::now();
        clock.start_at(t0);
        clock.start_at(t0 + 4 * SECOND);
        assert_eq!(clock.elapsed_s_at(t0 + 6 * SECOND), 6.0);
    }
}
