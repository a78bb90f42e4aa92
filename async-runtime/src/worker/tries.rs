//! The worker's tries to join its driver, and what to do when one ends: the reconnect rules,
//! apart from the sockets, so each case is a unit test.

use std::time::{Duration, Instant};

use super::{Ended, RunEnd};
use crate::error::RuntimeError;
use crate::transport::said::Said;

/// Joins again at most this many times after being declared lost.
const MAX_REJOINS: u32 = 100;

/// Tries another name at most this many times in a row when its name is held.
const NAME_TAKEN_RETRIES: u32 = 5;

/// The longest a worker declared lost tries to reach its driver again (its `--reconnect`
/// window, if longer, aside): that driver was there a moment ago, so one not reachable now
/// has exited (its run over) or is out of reach. Waiting the connect timeout, as for a driver
/// still loading its data, kept a worker stopped past its run's end trying for 10 minutes.
const MAX_REJOIN_WAIT: Duration = Duration::from_secs(60);

/// The pause before joining again a driver that was lost or refused this worker unproven.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// The longest a driver's "try again later" makes a worker wait before it does (a driver's
/// word, but a pause of hours would look like a hung worker).
const MAX_TRY_LATER_PAUSE: Duration = Duration::from_secs(30);

/// What to do after a try.
#[derive(Debug)]
pub(super) enum Then {
    /// Try again after `pause`, under a fresh name or the worker's own.
    Retry { fresh_name: bool, pause: Duration },
    /// Stop with this.
    Finish(Result<RunEnd, RuntimeError>),
}

/// The tries so far.
pub(super) struct Tries {
    /// The driver's address, as the operator gave it, for the lines that say it is lost.
    driver: String,
    /// After losing the driver, keep trying this long; `None`: stop at once.
    reconnect: Option<Duration>,
    /// Joins again after being declared lost, bounded by [`MAX_REJOINS`]: the other tries
    /// (a reconnect window's, a hello unanswered) have bounds of their own, and counted here
    /// they made a worker that rode out many cuts of its link stop when next declared lost.
    rejoins: u32,
    /// Fresh names taken because the peer said the name is held.
    renamed: u32,
    /// Tries again under the same name because the peer said it is free again.
    freed: u32,
    /// When the reconnect window opened: the driver lost, or a first unproven refusal.
    lost_at: Option<Instant>,
    /// The last refusal heard before any proof, for the final error.
    last_refusal: Option<String>,
    /// Tries again so far, for the warnings: a window of 600 s holds a thousand.
    said: Said,
    /// Sessions opened so far.
    sessions: u32,
    /// Until when the join under way (the first, or one after a session) may try again when
    /// no word came back: its first try's start plus the connect timeout.
    join_by: Option<Instant>,
    /// The driver declared this worker lost and it is joining again, with no session since.
    rejoining: bool,
}

impl Tries {
    pub(super) fn new(driver: &str, reconnect: Option<Duration>) -> Tries {
        Tries {
            driver: crate::protocol::peer_text(driver),
            reconnect,
            rejoins: 0,
            renamed: 0,
            freed: 0,
            lost_at: None,
            last_refusal: None,
            said: Said::default(),
            sessions: 0,
            join_by: None,
            rejoining: false,
        }
    }

    /// A session opened: what came before it is over, and a later loss of the driver opens
    /// a window of its own (the first window's start made a second cut an hour later final).
    pub(super) fn session_opened(&mut self) {
        self.sessions += 1;
        self.lost_at = None;
        self.last_refusal = None;
        self.renamed = 0;
        self.freed = 0;
        self.said = Said::default();
        self.join_by = None;
        self.rejoining = false;
    }

    /// Until when the next try may wait for the driver to listen: within the reconnect window
    /// once it opened, else within the connect timeout of the join's first try; a join after
    /// the driver declared this worker lost, within [`MAX_REJOIN_WAIT`] (or the reconnect
    /// window, if longer) of it.
    pub(super) fn reach_by(&mut self, connect_timeout: Duration, now: Instant) -> Instant {
        match (self.lost_at, self.reconnect) {
            (Some(since), Some(window)) => since + window,
            _ => *self
                .join_by
                .get_or_insert(now + self.join_wait(connect_timeout)),
        }
    }

    /// How long the join under way may wait for the driver: a fresh worker's driver may still
    /// be loading its data, while a worker declared lost had its driver a moment ago.
    fn join_wait(&self, connect_timeout: Duration) -> Duration {
        match self.rejoining {
            true => {
                let window = self.reconnect.unwrap_or_default();
                connect_timeout.min(MAX_REJOIN_WAIT.max(window))
            }
            false => connect_timeout,
        }
    }

    /// What to do after a try of worker `name` ended with `outcome` at `now`.
    pub(super) fn after(
        &mut self,
        name: &str,
        outcome: Result<Ended, RuntimeError>,
        now: Instant,
    ) -> Then {
        match outcome {
            Ok(Ended::Shutdown(end)) => Then::Finish(Ok(end)),
            Ok(Ended::Rejoin(reason)) => self.rejoin(name, reason),
            Ok(Ended::Unproven { said, name_held }) => self.refused(name, said, name_held, now),
            // The driver proved it said so (another build): no retry changes it.
            // Nor one that does not encrypt, to a worker that requires it.
            Ok(Ended::Refused(said) | Ended::Declined(said)) => {
                Then::Finish(Err(RuntimeError::Refused(said)))
            }
            Ok(Ended::TryLater { said, after }) => self.try_later(name, said, after, now),
            Ok(Ended::Unanswered(reason)) => self.unanswered(name, reason, now),
            Err(RuntimeError::DriverLost(reason)) if self.reconnect.is_some() => {
                self.within_window(name, Failed::Lost(reason), false, now)
            }
            Err(RuntimeError::DriverLost(reason)) if self.rejoining => {
                Then::Finish(Err(self.gone_after_rejoin(reason)))
            }
            // The session is gone all the same: joined again as after a lost driver.
            Err(RuntimeError::SessionFailed(reason)) if self.reconnect.is_some() => {
                self.within_window(name, Failed::Own(reason), false, now)
            }
            Err(error) => Then::Finish(Err(error)),
        }
    }

    /// The driver declared this worker lost, inside its session: join again as a fresh one.
    fn rejoin(&mut self, name: &str, reason: String) -> Then {
        if self.rejoins >= MAX_REJOINS {
            return Then::Finish(Err(RuntimeError::DriverLost(reason)));
        }
        tracing::warn!(worker = %name, %reason, "joining again as a fresh worker");
        self.lost_at = None;
        self.join_by = None;
        self.rejoining = true;
        self.rejoins += 1;
        Then::Retry {
            fresh_name: true,
            pause: Duration::ZERO,
        }
    }

    /// Refused before any proof. A driver that holds the name (a stopped process's, a
    /// stranger's, a lost worker's) is worked around under a fresh name a few times. Past that,
    /// a stranger could have said it as well as the driver: with `reconnect` it counts as a
    /// closed connection, tried again within the window; without, it is final, as said.
    /// A driver that made this hello wait for the name (another connection held it, a
    /// worker's own earlier one not yet seen closed) and says it is free again is tried
    /// again under it at once, a few times.
    fn refused(&mut self, name: &str, said: String, name_held: bool, now: Instant) -> Then {
        if said.contains(crate::protocol::NAME_FREED) && self.freed < NAME_TAKEN_RETRIES {
            tracing::info!(worker = %name, reason = %said, "joining again under its name");
            self.freed += 1;
            return Then::Retry {
                fresh_name: false,
                pause: Duration::ZERO,
            };
        }
        if name_held && self.renamed < NAME_TAKEN_RETRIES {
            tracing::warn!(worker = %name, reason = %said, "joining under a fresh name");
            self.renamed += 1;
            return Then::Retry {
                fresh_name: true,
                pause: Duration::ZERO,
            };
        }
        if self.reconnect.is_none() {
            return Then::Finish(Err(RuntimeError::Refused(said)));
        }
        self.last_refusal = Some(said.clone());
        self.within_window(name, Failed::Refused(said), name_held, now)
    }

    /// The driver, inside a session, said to join again after `after`: its budget of joins is
    /// spent (someone holding the token joined too often). With `reconnect` the worker does,
    /// within its window, under its own name; without, it stops, as for a lost driver.
    fn try_later(&mut self, name: &str, said: String, after: Duration, now: Instant) -> Then {
        if self.reconnect.is_none() {
            return Then::Finish(Err(RuntimeError::Refused(format!(
                "{said} (a worker started with --reconnect SECONDS keeps trying)"
            ))));
        }
        self.last_refusal = Some(said.clone());
        match self.within_window(name, Failed::Refused(said), false, now) {
            Then::Retry { fresh_name, pause } => Then::Retry {
                fresh_name,
                pause: after.clamp(pause, MAX_TRY_LATER_PAUSE.max(pause)),
            },
            finish => finish,
        }
    }

    /// A join the driver did not answer (silent, or closed before a word): a link slow or
    /// stalled past the driver's handshake deadline looks just so, while the driver is well.
    /// Tried again until the join's connect deadline; then, with `reconnect`, within its window
    /// as a lost driver; without, it stops naming both causes and the flag to wait longer.
    /// Inside a reconnect window already open, the window's rules weigh it.
    fn unanswered(&mut self, name: &str, reason: String, now: Instant) -> Then {
        let Some(join_by) = self.join_by.filter(|_| self.lost_at.is_none()) else {
            return self.lost(name, reason, now);
        };
        if now >= join_by {
            if self.reconnect.is_some() {
                return self.within_window(name, Failed::Lost(reason), false, now);
            }
            if self.rejoining {
                return Then::Finish(Err(self.gone_after_rejoin(reason)));
            }
            // No try again said yet: `--connect-timeout 0`, or one shorter than a try, left
            // time for one try only, which "every try" would not say.
            let tried = match self.said.count() {
                0 => "on the only try --connect-timeout left time for",
                _ => "so on every try until --connect-timeout ran out",
            };
            return Then::Finish(Err(RuntimeError::DriverLost(format!(
                "{reason}; {tried}: the link to the driver is slow or stalled (the driver cuts \
                 a join whose handshake takes longer than its deadline, 5 s by default), or \
                 the driver is stopped; raise --connect-timeout SECONDS to keep trying longer"
            ))));
        }
        if self.said.again() {
            let tries = self.said.count();
            let left_s = join_by.saturating_duration_since(now).as_secs_f64().ceil();
            let line = format!(
                "no answer from the driver at {} (a slow or stalled link, or a stopped driver); \
                 joining again",
                self.driver
            );
            // As in `within_window`: a first try is most often the previous run's driver
            // closing (`compare`'s hand-over), said at debug; a second failure warns.
            if tries == 1 && self.sessions == 0 {
                tracing::debug!(worker = %name, %reason, tries, left_s, "{line}");
            } else {
                tracing::warn!(worker = %name, %reason, tries, left_s, "{line}");
            }
        }
        Then::Retry {
            fresh_name: false,
            pause: RETRY_PAUSE,
        }
    }

    /// Why a worker declared lost, without a reconnect window, stops: its driver, there a
    /// moment ago, did not take it back within [`MAX_REJOIN_WAIT`] (or the connect timeout,
    /// if shorter).
    fn gone_after_rejoin(&self, reason: String) -> RuntimeError {
        RuntimeError::DriverLost(format!(
            "{reason}; the driver declared this worker lost, and this worker could not join \
             it again: its run is over, or it exited or is out of reach, so this worker gives \
             up rather than wait for a driver to come"
        ))
    }

    /// The driver lost or not reachable: tried again within the reconnect window, if any.
    fn lost(&mut self, name: &str, reason: String, now: Instant) -> Then {
        match self.reconnect {
            Some(_) => self.within_window(name, Failed::Lost(reason), false, now),
            None => Then::Finish(Err(RuntimeError::DriverLost(reason))),
        }
    }

    /// Tries again while the reconnect window is open; past it, stops with the reason.
    fn within_window(
        &mut self,
        name: &str,
        failed: Failed,
        fresh_name: bool,
        now: Instant,
    ) -> Then {
        let window = self.reconnect.unwrap_or_default();
        let since = *self.lost_at.get_or_insert(now);
        let waited = now.saturating_duration_since(since);
        if waited > window {
            return Then::Finish(Err(match failed {
                Failed::Own(reason) => RuntimeError::SessionFailed(reason),
                Failed::Lost(reason) | Failed::Refused(reason) => self.final_error(reason, waited),
            }));
        }
        if self.said.again() {
            let tries = self.said.count();
            if tries == 1 && self.sessions == 0 {
                // A first try that fails before any session is most often the closing driver
                // of the run before, met by a worker serving several (`compare`'s hand-over):
                // the normal path, said at debug; a second failure warns.
                tracing::debug!(
                    worker = %name,
                    reason = %failed.reason(),
                    "no session with the driver yet (the previous run's driver closing, as \
                     expected between runs); joining again"
                );
            } else {
                match &failed {
                    Failed::Lost(reason) => {
                        // The operator's words first; the transport's own, if any, stay in
                        // `reason`.
                        let left = window.saturating_sub(waited);
                        let line = not_reachable(&self.driver, reason, window, left);
                        tracing::warn!(worker = %name, tries, "{line}");
                    }
                    Failed::Refused(said) => {
                        tracing::warn!(worker = %name, reason = %said, tries, "no session with the driver; joining again")
                    }
                    Failed::Own(reason) => {
                        tracing::warn!(worker = %name, %reason, tries, "this worker ended its session (its own fault, not the driver's); joining again")
                    }
                }
            }
        }
        Then::Retry {
            fresh_name,
            pause: RETRY_PAUSE,
        }
    }

    /// The error the window closes on: it names the last refusal, if there was one.
    fn final_error(&self, reason: String, waited: Duration) -> RuntimeError {
        let waited_s = waited.as_secs();
        match &self.last_refusal {
            Some(refusal) if *refusal == reason => {
                RuntimeError::Refused(format!("{reason} (so on every try for {waited_s} s)"))
            }
            Some(refusal) => {
                RuntimeError::DriverLost(format!("{reason}; the last refusal: {refusal}"))
            }
            None => RuntimeError::DriverLost(reason),
        }
    }
}

/// Why a try failed, as the window weighs it.
enum Failed {
    /// The driver is lost or not reachable (`DriverLost`'s words).
    Lost(String),
    /// A peer refused this worker, or said to try later.
    Refused(String),
    /// This worker ended its session for a fault of its own (`SessionFailed`'s words).
    Own(String),
}

impl Failed {
    fn reason(&self) -> &str {
        match self {
            Failed::Lost(reason) | Failed::Refused(reason) | Failed::Own(reason) => reason,
        }
    }
}

/// The line a worker that lost its driver says while it tries to join it again: where, why
/// (with the transport's own words, if any, kept at the end) and for how long still, of its
/// reconnect `window`. A window with nothing `left` (`--reconnect 0`) allows one last try, at
/// once: "retrying for 0 s" read as if the worker would go on.
fn not_reachable(driver: &str, reason: &str, window: Duration, left: Duration) -> String {
    let then = if window.is_zero() {
        "one last try, then this worker gives up (--reconnect 0)".to_owned()
    } else if left.is_zero() {
        "one last try, then this worker gives up (its --reconnect window is over)".to_owned()
    } else {
        format!("retrying for {} s", left.as_secs_f64().ceil())
    };
    format!("driver at {driver} not reachable: {reason}; {then}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRIVER: &str = "tcp://10.0.0.1:7000";

    fn refused(reason: &str) -> Result<Ended, RuntimeError> {
        Ok(Ended::Unproven {
            said: format!("the driver refused this worker: {reason}"),
            name_held: reason.contains(crate::protocol::NAME_TAKEN),
        })
    }

    fn lost(reason: &str) -> Result<Ended, RuntimeError> {
        Err(RuntimeError::DriverLost(reason.into()))
    }

    fn final_error(then: Then) -> String {
        match then {
            Then::Finish(Err(error)) => error.to_string(),
            other => panic!("expected a final error, got {other:?}"),
        }
    }

    #[test]
    fn an_unproven_refusal_without_reconnect_is_final_and_says_why() {
        let mut tries = Tries::new(DRIVER, None);
        let error = final_error(tries.after("w0", refused("wrong build"), Instant::now()));
        assert_eq!(error, "the driver refused this worker: wrong build");
    }

    #[test]
    fn with_reconnect_an_unproven_refusal_is_tried_again_within_the_window() {
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(600)));
        let start = Instant::now();
        for minute in 0..10 {
            let at = start + Duration::from_secs(60 * minute);
            assert!(matches!(
                tries.after("w0", refused("go away"), at),
                Then::Retry {
                    fresh_name: false,
                    ..
                }
            ));
            assert_eq!(
                tries.reach_by(Duration::from_secs(5), at),
                start + Duration::from_secs(600)
            );
        }
        let past = start + Duration::from_secs(601);
        let error = final_error(tries.after("w0", refused("go away"), past));
        assert!(error.contains("refused this worker: go away"), "{error}");
        assert!(error.contains("601 s"), "{error}");
    }

    #[test]
    fn a_window_that_closes_on_a_lost_driver_names_the_last_refusal() {
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(10)));
        let start = Instant::now();
        assert!(matches!(
            tries.after("w0", refused("go away"), start),
            Then::Retry { .. }
        ));
        let past = start + Duration::from_secs(11);
        let error = final_error(tries.after("w0", lost("cannot reach it"), past));
        assert!(error.contains("cannot reach it"), "{error}");
        assert!(error.contains("the last refusal: the driver refused this worker: go away"));
    }

    #[test]
    fn a_session_this_worker_failed_ends_it_in_its_words_or_rejoins_as_after_a_lost_driver() {
        let failed = || {
            Err(RuntimeError::SessionFailed(
                "sealing a result failed (a bug)".into(),
            ))
        };
        let error = final_error(Tries::new(DRIVER, None).after("w0", failed(), Instant::now()));
        assert_eq!(error, "sealing a result failed (a bug)");
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(10)));
        let start = Instant::now();
        let then = tries.after("w0", failed(), start);
        assert!(
            matches!(
                then,
                Then::Retry {
                    fresh_name: false,
                    ..
                }
            ),
            "{then:?}"
        );
        // The window it opened closes as a lost driver's does, on the words of the last try.
        let past = start + Duration::from_secs(11);
        assert_eq!(
            final_error(tries.after("w0", failed(), past)),
            "sealing a result failed (a bug)"
        );
    }

    #[test]
    fn a_held_name_is_worked_around_a_few_times_then_counts_as_any_refusal() {
        let taken = format!("{} w0", crate::protocol::NAME_TAKEN);
        let mut tries = Tries::new(DRIVER, None);
        for _ in 0..NAME_TAKEN_RETRIES {
            assert!(matches!(
                tries.after("w0", refused(&taken), Instant::now()),
                Then::Retry {
                    fresh_name: true,
                    pause: Duration::ZERO
                }
            ));
        }
        let error = final_error(tries.after("w0", refused(&taken), Instant::now()));
        assert!(error.contains(crate::protocol::NAME_TAKEN), "{error}");
    }

    #[test]
    fn a_name_said_free_again_is_tried_again_under_it_a_few_times() {
        let free = format!(
            "{}: w0's earlier connection closed",
            crate::protocol::NAME_FREED
        );
        let mut tries = Tries::new(DRIVER, None);
        for _ in 0..NAME_TAKEN_RETRIES {
            let then = tries.after("w0", refused(&free), Instant::now());
            assert!(
                matches!(
                    then,
                    Then::Retry {
                        fresh_name: false,
                        pause: Duration::ZERO
                    }
                ),
                "{then:?}"
            );
        }
        // Past that, it is any unproven refusal: final without reconnect.
        let error = final_error(tries.after("w0", refused(&free), Instant::now()));
        assert!(error.contains(crate::protocol::NAME_FREED), "{error}");
    }

    #[test]
    fn a_proven_refusal_before_the_session_is_final_at_once_even_with_reconnect() {
        let proven = || {
            Ok(Ended::Refused(
                "the driver refused this worker: it runs another build".into(),
            ))
        };
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(600)));
        let start = Instant::now();
        // After unproven refusals too: the window they opened does not outlast the proof.
        assert!(matches!(
            tries.after("w0", refused("go away"), start),
            Then::Retry { .. }
        ));
        let error = final_error(tries.after("w0", proven(), start + Duration::from_secs(1)));
        assert_eq!(
            error,
            "the driver refused this worker: it runs another build"
        );
        let error = final_error(Tries::new(DRIVER, None).after("w0", proven(), start));
        assert!(error.contains("another build"), "{error}");
        // The same words unproven are tried again within the window.
        let unproven = Ok(Ended::Unproven {
            said: "the driver refused this worker: it runs another build".into(),
            name_held: false,
        });
        let then = Tries::new(DRIVER, Some(Duration::from_secs(600))).after("w0", unproven, start);
        assert!(matches!(then, Then::Retry { .. }), "{then:?}");
    }

    #[test]
    fn a_lost_driver_without_reconnect_is_final_and_a_proven_loss_rejoins() {
        let mut tries = Tries::new(DRIVER, None);
        assert!(matches!(
            tries.after("w0", Ok(Ended::Rejoin("lost".into())), Instant::now()),
            Then::Retry {
                fresh_name: true,
                ..
            }
        ));
        let error = final_error(tries.after("w0", lost("silent"), Instant::now()));
        assert!(error.contains("silent"), "{error}");
    }

    #[test]
    fn tries_that_are_no_rejoins_do_not_spend_the_rejoins() {
        // A worker with --reconnect that came back after many cuts of its link, each a few
        // tries, later declared lost: it stopped at its hundredth try of any kind, as if it
        // had been declared lost a hundred times.
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(600)));
        let start = Instant::now();
        for cut in 0..MAX_REJOINS {
            let at = start + Duration::from_secs(u64::from(cut));
            let then = tries.after("w0", lost("the connection broke"), at);
            assert!(matches!(then, Then::Retry { .. }), "{then:?}");
            tries.session_opened();
        }
        let then = tries.after("w0", Ok(Ended::Rejoin("lost".into())), start);
        assert!(
            matches!(
                then,
                Then::Retry {
                    fresh_name: true,
                    ..
                }
            ),
            "{then:?}"
        );
        // Rejoins themselves stay bounded.
        for _ in 1..MAX_REJOINS {
            let then = tries.after("w0", Ok(Ended::Rejoin("lost".into())), start);
            assert!(matches!(then, Then::Retry { .. }), "{then:?}");
        }
        let error = final_error(tries.after("w0", Ok(Ended::Rejoin("lost".into())), start));
        assert_eq!(error, "the driver is unreachable or gone: lost");
    }

    #[test]
    fn a_driver_that_says_try_later_is_tried_again_after_its_pause_within_the_window() {
        let later = |after_s: u64| {
            Ok(Ended::TryLater {
                said: "the driver refused this worker for now: too many joins".into(),
                after: Duration::from_secs(after_s),
            })
        };
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(60)));
        let start = Instant::now();
        for (after_s, expected) in [(3, 3), (0, 0), (3600, 30)] {
            match tries.after("w0", later(after_s), start) {
                Then::Retry { fresh_name, pause } => {
                    assert!(!fresh_name, "under its own name");
                    let expected = Duration::from_secs(expected).max(RETRY_PAUSE);
                    assert_eq!(pause, expected, "told {after_s} s");
                }
                other => panic!("expected a retry, got {other:?}"),
            }
        }
        let past = start + Duration::from_secs(61);
        let error = final_error(tries.after("w0", later(3), past));
        assert!(error.contains("too many joins"), "{error}");
        assert!(error.contains("61 s"), "{error}");
        // Without --reconnect it is final, and says how to keep trying.
        let error = final_error(Tries::new(DRIVER, None).after("w0", later(3), start));
        assert!(error.contains("too many joins") && error.contains("--reconnect"));
    }

    #[test]
    fn the_first_failed_try_before_any_session_is_quiet_and_a_second_warns() {
        // `compare`'s hand-over: the worker meets the previous run's driver closing.
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(60)));
        let start = Instant::now();
        let ((), first) = test_support::levels_logged(|| {
            let then = tries.after("w0", lost("Connection reset by peer"), start);
            assert!(matches!(then, Then::Retry { .. }), "{then:?}");
        });
        assert_eq!(first, [tracing::Level::DEBUG]);
        let ((), second) = test_support::levels_logged(|| {
            tries.after("w0", lost("Connection reset by peer"), start);
        });
        assert_eq!(second, [tracing::Level::WARN]);
    }

    #[test]
    fn a_driver_lost_after_a_session_is_said_in_the_operators_words_then_zeromqs() {
        let reason = "the connection broke (ZeroMQ said: Codec Error: Connection reset by peer)";
        assert_eq!(
            not_reachable(
                DRIVER,
                reason,
                Duration::from_secs(60),
                Duration::from_millis(59_500)
            ),
            format!("driver at {DRIVER} not reachable: {reason}; retrying for 60 s")
        );
        // Said as a warning from the first try: the session it had is gone.
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(60)));
        tries.session_opened();
        let ((), levels) = test_support::levels_logged(|| {
            let then = tries.after("w0", lost(reason), Instant::now());
            assert!(matches!(then, Then::Retry { .. }), "{then:?}");
        });
        assert_eq!(levels, [tracing::Level::WARN]);
    }

    #[test]
    fn a_driver_lost_with_reconnect_0_is_given_one_last_try_and_said_so() {
        let reason = "the connection broke";
        let line = not_reachable(DRIVER, reason, Duration::ZERO, Duration::ZERO);
        assert_eq!(
            line,
            format!(
                "driver at {DRIVER} not reachable: {reason}; one last try, then this worker \
                 gives up (--reconnect 0)"
            )
        );
        assert!(!line.contains("retrying"), "{line}");
        // A window that ran out to the instant is no retrying either.
        let line = not_reachable(DRIVER, reason, Duration::from_secs(5), Duration::ZERO);
        assert!(line.ends_with("(its --reconnect window is over)"), "{line}");
        // What the line says is what happens: one more try, then the worker stops.
        let mut tries = Tries::new(DRIVER, Some(Duration::ZERO));
        tries.session_opened();
        let start = Instant::now();
        let ((), levels) = test_support::levels_logged(|| {
            let then = tries.after("w0", lost(reason), start);
            assert!(matches!(then, Then::Retry { .. }), "{then:?}");
        });
        assert_eq!(levels, [tracing::Level::WARN]);
        let error = final_error(tries.after("w0", lost(reason), start + RETRY_PAUSE));
        assert!(error.contains(reason), "{error}");
    }

    #[test]
    fn connect_timeout_0_tries_once_and_says_no_retry() {
        // Nobody answered the one join --connect-timeout 0 allows: final, with no line
        // saying the worker joins again.
        let mut tries = Tries::new(DRIVER, None);
        let start = Instant::now();
        assert_eq!(tries.reach_by(Duration::ZERO, start), start);
        let (then, levels) = test_support::levels_logged(|| tries.after("w0", unanswered(), start));
        assert!(levels.is_empty(), "{levels:?}");
        let error = final_error(then);
        assert!(
            error.contains("on the only try --connect-timeout left time for"),
            "{error}"
        );
        assert!(!error.contains("every try"), "{error}");
    }

    fn unanswered() -> Result<Ended, RuntimeError> {
        Ok(Ended::Unanswered("no word on this connection".into()))
    }

    #[test]
    fn a_first_join_nobody_answered_is_tried_again_until_the_connect_deadline() {
        // A link stalled past the driver's handshake deadline: no word, then a cut.
        let mut tries = Tries::new(DRIVER, None);
        let start = Instant::now();
        let connect_timeout = Duration::from_secs(60);
        let deadline = start + connect_timeout;
        assert_eq!(tries.reach_by(connect_timeout, start), deadline);
        for s in [5, 30, 59] {
            let at = start + Duration::from_secs(s);
            assert_eq!(tries.reach_by(connect_timeout, at), deadline, "at {s} s");
            let then = tries.after("w0", unanswered(), at);
            assert!(
                matches!(
                    then,
                    Then::Retry {
                        fresh_name: false,
                        ..
                    }
                ),
                "{then:?}"
            );
        }
        let error = final_error(tries.after("w0", unanswered(), deadline));
        for words in [
            "no word on this connection",
            "slow or stalled",
            "the driver is stopped",
            "--connect-timeout",
        ] {
            assert!(error.contains(words), "{words}: {error}");
        }
    }

    #[test]
    fn a_refusal_after_an_unanswered_first_try_still_stops_at_once() {
        let start = Instant::now();
        let mut tries = Tries::new(DRIVER, None);
        tries.reach_by(Duration::from_secs(60), start);
        assert!(matches!(
            tries.after("w0", unanswered(), start),
            Then::Retry { .. }
        ));
        let error = final_error(tries.after("w0", refused("wrong token"), start));
        assert_eq!(error, "the driver refused this worker: wrong token");
        let proven = Ok(Ended::Refused(
            "the driver refused this worker: another build".into(),
        ));
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(600)));
        tries.reach_by(Duration::from_secs(60), start);
        tries.after("w0", unanswered(), start);
        let error = final_error(tries.after("w0", proven, start));
        assert!(error.contains("another build"), "{error}");
    }

    #[test]
    fn an_unanswered_join_inside_a_reconnect_window_follows_the_window() {
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(10)));
        let start = Instant::now();
        tries.reach_by(Duration::from_secs(600), start);
        tries.session_opened();
        assert!(matches!(
            tries.after("w0", lost("cut"), start),
            Then::Retry { .. }
        ));
        let reach_by = tries.reach_by(Duration::from_secs(600), start);
        assert_eq!(reach_by, start + Duration::from_secs(10));
        let past = start + Duration::from_secs(11);
        let error = final_error(tries.after("w0", unanswered(), past));
        assert!(error.contains("no word on this connection"), "{error}");
        // Past the connect deadline of a first join, `--reconnect` still opens its window.
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(10)));
        tries.reach_by(Duration::from_secs(1), start);
        let then = tries.after("w0", unanswered(), start + Duration::from_secs(2));
        assert!(matches!(then, Then::Retry { .. }), "{then:?}");
    }

    #[test]
    fn a_worker_declared_lost_gives_up_on_an_unreachable_driver_within_a_minute() {
        // Stopped past its run's end, a worker heard it was declared lost, and then waited
        // the whole connect timeout (10 minutes) for a driver that had exited.
        let connect_timeout = Duration::from_secs(600);
        let mut tries = Tries::new(DRIVER, None);
        let start = Instant::now();
        assert_eq!(
            tries.reach_by(connect_timeout, start),
            start + connect_timeout
        );
        tries.session_opened();
        let declared = Ok(Ended::Rejoin("the driver declared it lost".into()));
        let at = start + Duration::from_secs(100);
        assert!(matches!(
            tries.after("w0", declared, at),
            Then::Retry { .. }
        ));
        let reach_by = tries.reach_by(connect_timeout, at);
        assert_eq!(reach_by, at + MAX_REJOIN_WAIT);
        let then = tries.after("w0", lost("cannot reach it (tried for 60 s)"), reach_by);
        let error = final_error(then);
        assert!(
            error.contains("cannot reach it") && error.contains("declared this worker lost"),
            "{error}"
        );
        // A connect timeout shorter than the bound (a local worker's) is kept.
        let mut tries = Tries::new(DRIVER, None);
        tries.session_opened();
        let declared = Ok(Ended::Rejoin("the driver declared it lost".into()));
        tries.after("w0", declared, start);
        let short = Duration::from_secs(30);
        assert_eq!(tries.reach_by(short, start), start + short);
    }

    #[test]
    fn a_worker_declared_lost_keeps_a_longer_reconnect_window_and_a_fresh_one_waits_in_full() {
        let connect_timeout = Duration::from_secs(600);
        let start = Instant::now();
        let declared = || Ok(Ended::Rejoin("the driver declared it lost".into()));
        let window = Duration::from_secs(300);
        let mut tries = Tries::new(DRIVER, Some(window));
        tries.session_opened();
        tries.after("w0", declared(), start);
        assert_eq!(tries.reach_by(connect_timeout, start), start + window);
        // Once it joined again, a later join of a fresh worker's (no session) is untouched:
        // a session ends the rejoin, and a new `Tries` (the next run) waits the connect timeout.
        let mut fresh = Tries::new(DRIVER, None);
        assert_eq!(
            fresh.reach_by(connect_timeout, start),
            start + connect_timeout
        );
        // A join unanswered after the declaration, without a window, stops naming it.
        let mut tries = Tries::new(DRIVER, None);
        tries.session_opened();
        tries.after("w0", declared(), start);
        let reach_by = tries.reach_by(connect_timeout, start);
        let unanswered = Ok(Ended::Unanswered("no word".into()));
        let error = final_error(tries.after("w0", unanswered, reach_by));
        assert!(error.contains("declared this worker lost"), "{error}");
    }

    #[test]
    fn a_session_opens_a_fresh_window_for_the_next_loss() {
        // Cut, rejoined under a fresh name (the driver held the old one as lost), an hour of
        // training, then a second cut: the first window's start made it final.
        let mut tries = Tries::new(DRIVER, Some(Duration::from_secs(60)));
        let start = Instant::now();
        assert!(matches!(
            tries.after("w0", lost("silent"), start),
            Then::Retry { .. }
        ));
        let held = Ok(Ended::Unproven {
            said: "the driver holds this name as a lost worker's".into(),
            name_held: true,
        });
        assert!(matches!(
            tries.after("w0", held, start + Duration::from_secs(1)),
            Then::Retry {
                fresh_name: true,
                ..
            }
        ));
        tries.session_opened();
        let an_hour_later = start + Duration::from_secs(3600);
        let then = tries.after("w0", lost("silent"), an_hour_later);
        assert!(matches!(then, Then::Retry { .. }), "{then:?}");
    }
}
