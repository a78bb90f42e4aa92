//! How long a task spent on the wire: its round trip, from dispatch on the driver to its
//! result's arrival at the driver's link, less the time the worker says it held the task.
//! That time is the worker's word, so it is only believed within the round trip.

use std::time::Instant;

/// Seconds of the round trip of a task sent at `sent` and answered at `received` that the
/// worker did not hold it (`held_s`, its word): sending the order and the result, the links'
/// queues, the frames' encoding and sealing. A worker that prefetches holds its next task
/// while it computes one: the time a task waits in the worker's queue is the worker's, not
/// the network's. A hold outside `[0, round trip]` is clamped to it (a lie, or clocks that
/// round apart); a non-finite one says nothing, and gives `None`.
pub(crate) fn network_s(sent: Instant, received: Instant, held_s: f64) -> Option<f64> {
    if !held_s.is_finite() {
        return None;
    }
    let round_trip = received.saturating_duration_since(sent).as_secs_f64();
    Some(round_trip - held_s.clamp(0.0, round_trip))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_wire_time_is_the_round_trip_less_the_time_the_worker_held_the_task() {
        let sent = Instant::now();
        let received = sent + Duration::from_millis(650);
        // 200 ms each way around 250 ms of work (and queueing) on the worker.
        let network = network_s(sent, received, 0.25).unwrap();
        assert!((network - 0.4).abs() < 1e-9, "{network}");
        assert_eq!(network_s(sent, sent, 0.0), Some(0.0), "nothing on the wire");
    }

    #[test]
    fn a_worker_lying_about_its_hold_moves_the_wire_time_only_within_the_round_trip() {
        let sent = Instant::now();
        let received = sent + Duration::from_secs(1);
        // Held longer than it was out: it was never on the wire, and no less.
        assert_eq!(network_s(sent, received, 5.0), Some(0.0));
        assert_eq!(network_s(sent, received, f64::MAX), Some(0.0));
        // Held less than nothing: the whole round trip, and no more.
        assert_eq!(network_s(sent, received, -3.0), Some(1.0));
        for held_s in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(network_s(sent, received, held_s), None, "{held_s}");
        }
        // An arrival stamped before the dispatch (a pause left out of the time sent): no
        // negative round trip.
        assert_eq!(network_s(received, sent, 0.5), Some(0.0));
    }
}
