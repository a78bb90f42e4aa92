//! The line that says, after a run's result line, what went wrong along the way: the warnings
//! that told it have scrolled away, and a reader of the last lines would take the run for clean.

use asyncopt_runtime::{DriverPauses, RunReport, RunStats};

use crate::words::count;

/// `  faults: ...` naming, in plain words, each fault counter of `stats` above 0 (workers lost
/// or excluded, the partitions they held moved, processes restarted, tasks failed, results
/// dropped by the driver's checks, hung tasks done again, messages rejected, joins refused or
/// left unproven, joins told to try later, handshakes timed out or closed to make room,
/// connections closed before their ZeroMQ handshake, strangers cut off, frames the session
/// layer dropped unread (strangers', out of place within a session, forged or replayed),
/// frames of ended sessions, floods); `None` for a clean run. The workers excluded for not
/// reading the data file ([`RunReport::unreadable_data_exclusions`]) are said as such: the
/// file may be at fault, not they. The driver's own pauses (stopped, suspended, starved) come
/// last, with the seconds they took.
pub fn fault_line(report: &RunReport) -> Option<String> {
    fault_line_of(
        &report.stats,
        report.unreadable_data_exclusions(),
        &report.driver_pauses,
    )
}

/// [`fault_line`] of the counters `stats`, of whose excluded workers `unreadable_data` could
/// not read the data file, and of the driver's own `pauses`.
fn fault_line_of(stats: &RunStats, unreadable_data: u64, pauses: &DriverPauses) -> Option<String> {
    // An excluded worker is lost too (its session is ended): each is said once, as excluded.
    // Counted per session, so a worker lost, back under a fresh session and lost again is two
    // losses: said as losses, not as workers.
    let lost = stats.lost_workers.saturating_sub(stats.excluded_workers);
    let unreadable = unreadable_data.min(stats.excluded_workers);
    let failing = stats.excluded_workers - unreadable;
    let gone = [
        (lost, count(lost, "worker lost", "worker losses")),
        (
            failing,
            count(
                failing,
                "worker excluded for failing tasks or bad results",
                "workers excluded for failing tasks or bad results",
            ),
        ),
        (
            unreadable,
            count(
                unreadable,
                "worker excluded as it could not read the data file",
                "workers excluded as they could not read the data file",
            ),
        ),
    ];
    let mut items: Vec<String> = gone
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(_, text)| text)
        .collect();
    // Partitions move only from workers that went: said with the first of them.
    if stats.moved_partitions > 0 {
        let moved = count(
            stats.moved_partitions,
            "partition moved",
            "partitions moved",
        );
        match items.first_mut() {
            Some(first) => *first = format!("{first} ({moved})"),
            None => items.push(moved),
        }
    }
    let others = [
        (
            stats.respawned_workers,
            "worker process restarted",
            "worker processes restarted",
        ),
        (stats.failed_tasks, "task failed", "tasks failed"),
        (
            stats.bad_results,
            "bad result dropped",
            "bad results dropped",
        ),
        (
            stats.hung_tasks,
            "hung task done again elsewhere",
            "hung tasks done again elsewhere",
        ),
        (
            stats.rejected_messages,
            "message rejected",
            "messages rejected",
        ),
        // A refused hello, or a peer that left without proving the token: a join that failed.
        (
            stats.refused_workers,
            "join refused or left unproven",
            "joins refused or left unproven",
        ),
        (
            stats.joins_refused,
            "join told to try again later",
            "joins told to try again later",
        ),
        (
            stats.handshake_timeouts,
            "handshake timed out",
            "handshakes timed out",
        ),
        (
            stats.strangers_turned_away,
            "handshake closed to make room for newer ones",
            "handshakes closed to make room for newer ones",
        ),
        // Raw connections: garbage for a greeting, silence until their deadline, or a worker's
        // retry. A worker started with `--reconnect` that tries again while the driver is
        // stopped leaves its connection in the listen queue and gives up on it; the driver,
        // resumed, accepts it closed. The transport counts these closes without a peer
        // address, and none reaches the gate, so no later join can vouch for one: the clause
        // names the harmless cause first rather than suggest an attack.
        (
            stats.zeromq_handshakes_failed,
            "connection closed before its ZeroMQ handshake (a worker's retry or a stranger's \
             probe)",
            "connections closed before their ZeroMQ handshake (workers' retries or strangers' \
             probes)",
        ),
        // Past the ZeroMQ handshake: what connections without a session did, said apart from
        // what was forged within one, so that junk from a stranger reads as no attack on a
        // worker's session.
        (
            stats.strangers_cut_off,
            "stranger's connection cut off for sending more than a handshake",
            "strangers' connections cut off for sending more than a handshake",
        ),
        (
            stranger_frames(stats),
            "stranger's frame dropped unauthenticated",
            "strangers' frames dropped unauthenticated",
        ),
        // Within a session, said apart from strangers' frames: a worker's bug or someone on
        // the path between it and the driver, where a stranger's are anyone's.
        (
            stats.unsealed_session_frames,
            "frame dropped within a session as unsealed or out of place",
            "frames dropped within a session as unsealed or out of place",
        ),
        (
            forged_frames(stats),
            "frame forged or replayed within a session dropped",
            "frames forged or replayed within a session dropped",
        ),
        (
            stats.ended_session_frames,
            "frame of an ended session dropped",
            "frames of ended sessions dropped",
        ),
        (
            stats.floods,
            "flood of a peer's frames cut short",
            "floods of a peer's frames cut short",
        ),
    ];
    items.extend(
        others
            .into_iter()
            .filter(|(n, _, _)| *n > 0)
            .map(|(n, one, many)| count(n, one, many)),
    );
    // The driver's own: no worker's fault, but the run lost that time all the same.
    if pauses.count > 0 {
        items.push(format!(
            "{} ({:.1} s in all, no worker judged meanwhile)",
            count(pauses.count, "pause of the driver", "pauses of the driver"),
            pauses.total_s
        ));
    }
    if items.is_empty() {
        return None;
    }
    Some(format!(
        "  faults: {}; see \"stats\" in the summary",
        items.join(", ")
    ))
}

/// Frames of peers without a session the driver's session layer dropped unauthenticated,
/// their handshake frames over the size limit too. Each counter stays apart in the summary's
/// `stats`.
fn stranger_frames(stats: &RunStats) -> u64 {
    stats
        .unauthenticated_frames
        .saturating_add(stats.oversized_handshakes)
}

/// Sealed frames of a session the session layer dropped: their MAC did not verify, or they
/// were replayed or out of order. Each counter stays apart in the summary's `stats`.
fn forged_frames(stats: &RunStats) -> u64 {
    stats.bad_mac_frames.saturating_add(stats.replayed_frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_run_has_no_fault_line() {
        let stats = RunStats {
            updates: 500,
            tasks_sent: 520,
            dropped_stale: 7,
            ..RunStats::default()
        };
        assert_eq!(fault_line_of(&stats, 0, &DriverPauses::default()), None);
    }

    #[test]
    fn the_drivers_own_pauses_are_said_with_their_seconds() {
        // A driver stopped for 20 s and 3 s went on with every worker, and its run read as
        // clean: nothing said where the time went.
        let pauses = DriverPauses {
            count: 2,
            total_s: 23.04,
            longest_s: 20.0,
        };
        assert_eq!(
            fault_line_of(&RunStats::default(), 0, &pauses).as_deref(),
            Some(
                "  faults: 2 pauses of the driver (23.0 s in all, no worker judged meanwhile); \
                 see \"stats\" in the summary"
            )
        );
    }

    #[test]
    fn each_fault_is_said_once_in_plain_words() {
        let stats = RunStats {
            lost_workers: 2,
            excluded_workers: 1,
            moved_partitions: 2,
            failed_tasks: 4,
            hung_tasks: 1,
            refused_workers: 3,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 0, &DriverPauses::default()).as_deref(),
            Some(
                "  faults: 1 worker lost (2 partitions moved), 1 worker excluded for failing \
                 tasks or bad results, 4 tasks failed, 1 hung task done again elsewhere, 3 \
                 joins refused or left unproven; \
                 see \"stats\" in the summary"
            )
        );
        let stats = RunStats {
            excluded_workers: 2,
            lost_workers: 2,
            moved_partitions: 1,
            respawned_workers: 2,
            bad_results: 1,
            rejected_messages: 1,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 0, &DriverPauses::default()).as_deref(),
            Some(
                "  faults: 2 workers excluded for failing tasks or bad results (1 partition \
                 moved), 2 worker processes restarted, 1 bad result dropped, 1 message rejected; \
                 see \"stats\" in the summary"
            )
        );
    }

    #[test]
    fn a_worker_that_could_not_read_the_data_file_is_not_said_to_fail_tasks() {
        // A bad line in the file: the first worker to read it was excluded, and the line said
        // it failed tasks or sent bad results.
        let stats = RunStats {
            lost_workers: 3,
            excluded_workers: 3,
            moved_partitions: 1,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 1, &DriverPauses::default()).as_deref(),
            Some(
                "  faults: 2 workers excluded for failing tasks or bad results (1 partition \
                 moved), 1 worker excluded as it could not read the data file; see \"stats\" \
                 in the summary"
            )
        );
        let line = fault_line_of(
            &RunStats {
                excluded_workers: 1,
                ..stats
            },
            1,
            &DriverPauses::default(),
        )
        .unwrap();
        assert!(!line.contains("failing tasks"), "{line}");
    }

    #[test]
    fn frames_of_strangers_are_said_apart_from_frames_forged_within_a_session() {
        let stats = RunStats {
            refused_workers: 2,
            unauthenticated_frames: 5,
            bad_mac_frames: 3,
            replayed_frames: 2,
            oversized_handshakes: 1,
            strangers_cut_off: 1,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 0, &DriverPauses::default()).as_deref(),
            Some(
                "  faults: 2 joins refused or left unproven, 1 stranger's connection cut off for \
                 sending more than a handshake, 6 strangers' frames dropped unauthenticated, 5 \
                 frames forged or replayed within a session dropped; see \"stats\" in the \
                 summary"
            )
        );
        // Alone, a forged frame is a fault line of its own: a run under attack is not clean.
        let stats = RunStats {
            bad_mac_frames: 1,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 0, &DriverPauses::default()).as_deref(),
            Some(
                "  faults: 1 frame forged or replayed within a session dropped; see \"stats\" \
                 in the summary"
            )
        );
    }

    #[test]
    fn a_stranger_cut_off_for_junk_is_no_attack_on_a_session() {
        // A raw client past the ZeroMQ greeting sending junk: its first frames are rejected,
        // the next closes its connection. No session's frame was forged or replayed.
        let stats = RunStats {
            rejected_messages: 4,
            strangers_cut_off: 1,
            ..RunStats::default()
        };
        let line = fault_line_of(&stats, 0, &DriverPauses::default()).unwrap();
        assert_eq!(
            line,
            "  faults: 4 messages rejected, 1 stranger's connection cut off for sending more \
             than a handshake; see \"stats\" in the summary"
        );
        assert!(
            !line.contains("forged") && !line.contains("replayed"),
            "{line}"
        );
        // Frames of peers without a session neither.
        let stats = RunStats {
            unauthenticated_frames: 3,
            ..RunStats::default()
        };
        let line = fault_line_of(&stats, 0, &DriverPauses::default()).unwrap();
        assert!(
            line.contains("3 strangers' frames dropped unauthenticated"),
            "{line}"
        );
        assert!(
            !line.contains("forged") && !line.contains("replayed"),
            "{line}"
        );
    }

    #[test]
    fn unsealed_frames_within_a_session_are_said_apart_from_strangers_frames() {
        // A frame of another protocol version on a worker's connection, a plain heartbeat
        // under its session's identity: no stranger's doing, nor a forged frame of it.
        let stats = RunStats {
            unauthenticated_frames: 2,
            unsealed_session_frames: 3,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 0, &DriverPauses::default()).as_deref(),
            Some(
                "  faults: 2 strangers' frames dropped unauthenticated, 3 frames dropped within \
                 a session as unsealed or out of place; see \"stats\" in the summary"
            )
        );
        // Alone, a fault line of its own.
        let stats = RunStats {
            unsealed_session_frames: 1,
            ..RunStats::default()
        };
        let line = fault_line_of(&stats, 0, &DriverPauses::default()).unwrap();
        assert_eq!(
            line,
            "  faults: 1 frame dropped within a session as unsealed or out of place; see \
             \"stats\" in the summary"
        );
        assert!(!line.contains("stranger"), "{line}");
    }

    #[test]
    fn a_worker_lost_twice_is_two_losses_not_two_workers() {
        // Lost, back under a fresh session, lost again: the runtime counts sessions lost.
        let stats = RunStats {
            lost_workers: 2,
            moved_partitions: 2,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 0, &DriverPauses::default()).as_deref(),
            Some("  faults: 2 worker losses (2 partitions moved); see \"stats\" in the summary")
        );
    }

    #[test]
    fn a_connection_closed_before_its_zeromq_handshake_may_be_a_workers_retry() {
        // A worker with `--reconnect` retrying while the driver is stopped ends so too.
        let stats = RunStats {
            zeromq_handshakes_failed: 2,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 0, &DriverPauses::default()).as_deref(),
            Some(
                "  faults: 2 connections closed before their ZeroMQ handshake (workers' retries or \
                 strangers' probes); see \"stats\" in the summary"
            )
        );
    }

    #[test]
    fn each_clause_is_said_once_when_every_counter_is_up() {
        let stats = RunStats {
            lost_workers: 3,
            excluded_workers: 1,
            moved_partitions: 1,
            respawned_workers: 1,
            failed_tasks: 1,
            bad_results: 1,
            hung_tasks: 1,
            rejected_messages: 1,
            refused_workers: 1,
            joins_refused: 1,
            handshake_timeouts: 1,
            strangers_turned_away: 1,
            zeromq_handshakes_failed: 1,
            strangers_cut_off: 1,
            unauthenticated_frames: 1,
            unsealed_session_frames: 1,
            oversized_handshakes: 1,
            bad_mac_frames: 1,
            replayed_frames: 1,
            ended_session_frames: 1,
            floods: 1,
            ..RunStats::default()
        };
        let line = fault_line_of(&stats, 0, &DriverPauses::default()).unwrap();
        let body = line
            .strip_prefix("  faults: ")
            .and_then(|rest| rest.strip_suffix("; see \"stats\" in the summary"))
            .unwrap();
        let clauses: Vec<&str> = body.split(", ").collect();
        for clause in &clauses {
            let said = clauses.iter().filter(|c| *c == clause).count();
            assert_eq!(said, 1, "{clause:?} in {line}");
        }
        assert_eq!(line.matches("ended session").count(), 1, "{line}");
    }

    #[test]
    fn what_the_gate_turned_away_before_admission_is_said_too() {
        // A peer that never completes a handshake, a flood of hellos, a join loop: no worker
        // lost, no frame of a session forged, and still not a clean run.
        let stats = RunStats {
            handshake_timeouts: 2,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 0, &DriverPauses::default()).as_deref(),
            Some("  faults: 2 handshakes timed out; see \"stats\" in the summary")
        );
        // Raw connections that never finished ZeroMQ's own handshake (a probe of the port,
        // garbage for a greeting, silence): alone, a fault line of their own.
        let stats = RunStats {
            zeromq_handshakes_failed: 1,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 0, &DriverPauses::default()).as_deref(),
            Some(
                "  faults: 1 connection closed before its ZeroMQ handshake (a worker's retry or a \
                 stranger's probe); see \"stats\" in the summary"
            )
        );
        let stats = RunStats {
            refused_workers: 3,
            joins_refused: 1,
            handshake_timeouts: 1,
            strangers_turned_away: 40,
            zeromq_handshakes_failed: 7,
            strangers_cut_off: 2,
            ended_session_frames: 5,
            floods: 1,
            ..RunStats::default()
        };
        assert_eq!(
            fault_line_of(&stats, 0, &DriverPauses::default()).as_deref(),
            Some(
                "  faults: 3 joins refused or left unproven, 1 join told to try again later, 1 \
                 handshake timed out, 40 handshakes closed to make room for newer ones, 7 \
                 connections closed before their ZeroMQ handshake (workers' retries or \
                 strangers' probes), 2 strangers' connections cut off for sending more than a \
                 handshake, 5 frames of ended sessions dropped, 1 flood of a peer's frames cut \
                 short; see \"stats\" in the summary"
            )
        );
    }
}
