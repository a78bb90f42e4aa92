//! The shape each `reduce!` site's results must have. It is taken from the results
//! themselves, only once more than half of the workers that can answer agree on it, at least
//! two (or one worker is all there is), so that one bad worker answering first cannot set it,
//! nor one insider holding the token under two names (names are the peers' choice) among
//! many workers; after many results without agreement, the latest shape wins, unless results
//! of different shapes wait for a live worker not yet heard from (for a bounded number of
//! results: it may never answer). Once settled, a result of another shape is refused.
//!
//! [`SiteShapes`] is the one owner of this state; it sees shapes, the workers asked by their
//! rows, and who sent each result by the worker it is ([`WorkerInfo::worker`]), as the failure
//! and hang tallies count them: a worker back under its name, in a row of its own, is one
//! voter, never two agreeing with itself.
//!
//! [`WorkerInfo::worker`]: super::table::WorkerInfo::worker

use std::collections::HashMap;

use super::inspect::Shape;

/// A tie waits for a worker not heard from yet ([`tie_awaits_a_worker`]) for this many times
/// the results after which one worker alone settles a shape, no longer: that worker may never
/// answer (a task thread hung, its heartbeats going on, or an insider's other name holding
/// its task), and the site's results would be dropped forever, with no update of the run.
const TIE_WAITS_AT_MOST: usize = 16;

/// The settled shape of each site, and the candidates of the others.
#[derive(Default)]
pub(crate) struct SiteShapes {
    settled: HashMap<&'static str, Shape>,
    /// Per site whose shape is not settled: the shapes its results had, and from whom.
    candidates: HashMap<&'static str, Candidates>,
    /// Per site whose shape is not settled: the workers sent one of its tasks, each once.
    asked: HashMap<&'static str, Vec<usize>>,
}

/// The results of a site whose shape is not settled.
#[derive(Default)]
struct Candidates {
    /// Each shape a worker (by [`WorkerInfo::worker`](super::table::WorkerInfo::worker))
    /// sent, once, in the order each pair was last seen: what the decision reads, so that it
    /// costs (and keeps) no more for the thousandth result of a tie than for the first.
    seen: Vec<(Shape, String)>,
    /// Results seen.
    results: usize,
}

impl Candidates {
    /// Records a result of `shape` from `worker`: last in [`Candidates::seen`].
    fn push(&mut self, shape: Shape, worker: &str) {
        self.results += 1;
        if let Some(at) = self
            .seen
            .iter()
            .position(|(other, from)| *other == shape && from == worker)
        {
            self.seen.remove(at);
        }
        self.seen.push((shape, worker.to_owned()));
    }
}

impl SiteShapes {
    /// Checks the shape of a result of `site` from `worker` (the worker it is, not its row),
    /// `answering(asked)` workers able to
    /// answer the site, given those it asked ([`SiteShapes::asked`]; counted only while its
    /// shape is not settled):
    /// `Ok(true)` when it is (or now becomes) the site's shape, `Ok(false)` while the site's
    /// shape is not settled or was just settled to another, `Err` with why when the settled
    /// shape is another.
    pub fn check(
        &mut self,
        site: &'static str,
        shape: Shape,
        worker: &str,
        answering: impl FnOnce(&[usize]) -> usize,
    ) -> Result<bool, String> {
        match self.settled.get(site) {
            Some(expected) if *expected != shape => Err(format!(
                "its shape {shape:?} is not the shape {expected:?} of the site's results"
            )),
            Some(_) => Ok(true),
            None => {
                let answering = answering(self.asked_of(site));
                Ok(self.confirm(site, shape, worker, answering))
            }
        }
    }

    /// Records that `worker` was sent a task of `site`: while the site's shape is not settled,
    /// an asynchronous site's results are judged among the workers it asked
    /// ([`SiteShapes::asked_of`]), not among every live worker, of whom a selecting barrier
    /// may never ask most.
    pub fn asked(&mut self, site: &'static str, worker: usize) {
        if self.settled.contains_key(site) {
            return;
        }
        let asked = self.asked.entry(site).or_default();
        if !asked.contains(&worker) {
            asked.push(worker);
        }
    }

    /// The workers sent a task of `site` while its shape was not settled.
    pub fn asked_of(&self, site: &str) -> &[usize] {
        self.asked.get(site).map_or(&[], Vec::as_slice)
    }

    /// Whether `site`'s shape is settled.
    pub fn is_settled(&self, site: &str) -> bool {
        self.settled.contains_key(site)
    }

    /// Settles `site`'s shape by hand, as agreeing workers would.
    #[cfg(test)]
    pub fn settle(&mut self, site: &'static str, shape: Shape) {
        self.settled.insert(site, shape);
    }

    /// Records a candidate shape of an unsettled site; whether it is the shape settled.
    fn confirm(&mut self, site: &'static str, shape: Shape, worker: &str, alive: usize) -> bool {
        // A tie waits for a worker not heard yet only if one can still answer: a site whose
        // barrier asks one worker alone never hears a second (it waited forever, dropping
        // every result, when that worker's shapes changed).
        let can_answer = match self.asked.get(site) {
            Some(asked) if !asked.is_empty() => alive.min(asked.len()),
            _ => alive,
        };
        let candidates = self.candidates.entry(site).or_default();
        // `seen` holds a worker and shape once: this counts the other workers.
        let others = candidates
            .seen
            .iter()
            .filter(|(other, from)| *other == shape && from != worker)
            .count();
        let agreed = alive <= 1 || super::tasks::most_of(others + 1, alive);
        candidates.push(shape.clone(), worker);
        let seen = &candidates.seen;
        let chosen = if agreed {
            Some(shape)
        } else if candidates.results > 2 * alive + 2
            && (!tie_awaits_a_worker(seen, can_answer)
                || candidates.results > TIE_WAITS_AT_MOST * (2 * alive + 2))
        {
            let backers = |candidate: &Shape| {
                let mut workers: Vec<&str> = seen
                    .iter()
                    .filter(|(s, _)| s == candidate)
                    .map(|(_, w)| w.as_str())
                    .collect();
                workers.sort_unstable();
                workers.dedup();
                workers.len()
            };
            seen.iter()
                .map(|(s, _)| s)
                .max_by_key(|s| backers(s))
                .cloned()
        } else {
            None
        };
        match chosen {
            Some(reference) => {
                let fits = reference == seen.last().expect("just pushed").0;
                self.candidates.remove(site);
                self.asked.remove(site);
                self.settled.insert(site, reference);
                fits
            }
            None => false,
        }
    }
}

/// Whether the results of an unsettled site carry different shapes (each from one worker,
/// or two would have agreed) while a live worker has sent none yet: no majority can be told
/// then, and taking the latest result's shape would let a bad worker that happened to answer
/// last set it, and the good ones be refused. That worker's first result decides instead.
/// Once every live worker was heard, the latest shape wins as for one worker alone.
fn tie_awaits_a_worker(seen: &[(Shape, String)], alive: usize) -> bool {
    let Some((first, _)) = seen.first() else {
        return false;
    };
    if seen.iter().all(|(shape, _)| shape == first) {
        return false;
    }
    let mut heard: Vec<&str> = seen.iter().map(|(_, worker)| worker.as_str()).collect();
    heard.sort_unstable();
    heard.dedup();
    heard.len() < alive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_asked_worker_of_changing_shapes_settles_by_the_fallback_not_never() {
        let mut shapes = SiteShapes::default();
        shapes.asked("grad", 0);
        // Two voters (the floor), one of them never asked: the old code waited for it.
        for i in 0..=6 {
            let shape = if i % 2 == 0 { vec![2] } else { vec![3] };
            let _ = shapes.check("grad", shape, "w0", |_| 2);
        }
        assert!(shapes.is_settled("grad"));
    }

    #[test]
    fn two_workers_agreeing_settle_a_sites_shape_one_worker_twice_does_not() {
        let mut shapes = SiteShapes::default();
        assert_eq!(shapes.check("grad", vec![8], "w0", |_| 3), Ok(false));
        assert_eq!(
            shapes.check("grad", vec![8], "w0", |_| 3),
            Ok(false),
            "same worker"
        );
        assert!(!shapes.is_settled("grad"));
        assert_eq!(shapes.check("grad", vec![8], "w1", |_| 3), Ok(true));
        assert!(shapes.is_settled("grad"));
        assert_eq!(shapes.check("grad", vec![8], "w2", |_| 3), Ok(true));
        let refused = shapes.check("grad", vec![2], "w2", |_| 3).unwrap_err();
        assert!(
            refused.contains("[2]") && refused.contains("[8]"),
            "{refused}"
        );
        assert!(!shapes.is_settled("other"), "per site");
    }

    #[test]
    fn among_many_workers_a_majority_settles_the_shape_not_two() {
        // Eight workers: two names answering first with one shape (one insider, say) do not
        // set it; the five honest ones that follow do.
        let mut shapes = SiteShapes::default();
        for name in [100, 101] {
            assert_eq!(
                shapes.check("grad", vec![2], &format!("w{name}"), |_| 8),
                Ok(false)
            );
        }
        for worker in 0..4 {
            assert_eq!(
                shapes.check("grad", vec![8], &format!("w{worker}"), |_| 8),
                Ok(false)
            );
        }
        assert_eq!(
            shapes.check("grad", vec![8], "w4", |_| 8),
            Ok(true),
            "five of eight"
        );
        assert!(shapes.check("grad", vec![2], "w100", |_| 8).is_err());
    }

    #[test]
    fn a_worker_back_under_its_name_does_not_agree_with_itself() {
        // w0 answered, was lost, and joined again in a row of its own: still one worker of
        // three, not the two that would settle the shape.
        let mut shapes = SiteShapes::default();
        assert_eq!(shapes.check("grad", vec![2], "w0", |_| 3), Ok(false));
        assert_eq!(shapes.check("grad", vec![2], "w0", |_| 3), Ok(false));
        assert!(!shapes.is_settled("grad"));
        assert_eq!(shapes.check("grad", vec![8], "w1", |_| 3), Ok(false));
        assert_eq!(shapes.check("grad", vec![8], "w2", |_| 3), Ok(true));
    }

    #[test]
    fn a_lone_worker_settles_its_sites_shape_at_once() {
        let mut shapes = SiteShapes::default();
        assert_eq!(shapes.check("grad", vec![3, 4], "w0", |_| 1), Ok(true));
        assert_eq!(shapes.check("grad", vec![3, 4], "w0", |_| 1), Ok(true));
    }

    #[test]
    fn a_bad_worker_answering_first_does_not_set_the_shape() {
        let mut shapes = SiteShapes::default();
        assert_eq!(shapes.check("grad", vec![2], "w2", |_| 3), Ok(false));
        assert_eq!(shapes.check("grad", vec![8], "w0", |_| 3), Ok(false));
        assert_eq!(shapes.check("grad", vec![8], "w1", |_| 3), Ok(true));
        assert!(shapes.check("grad", vec![2], "w2", |_| 3).is_err());
    }

    #[test]
    fn a_worker_answering_alone_for_long_settles_the_shape() {
        // Three workers, two silent: after 2 * 3 + 2 results, the one shape seen wins.
        let mut shapes = SiteShapes::default();
        for _ in 0..8 {
            assert_eq!(shapes.check("grad", vec![8], "w0", |_| 3), Ok(false));
        }
        assert_eq!(shapes.check("grad", vec![8], "w0", |_| 3), Ok(true));
        assert!(shapes.check("grad", vec![2], "w1", |_| 3).is_err());
    }

    #[test]
    fn a_bad_and_a_good_worker_tied_wait_for_the_third_a_long_while() {
        // w1 is slow to start; w0 (bad) and w2 (good) alternate, w0 answering last each time
        // (40 results, 5 times those after which one worker alone settles a shape).
        let mut shapes = SiteShapes::default();
        for _ in 0..20 {
            assert_eq!(shapes.check("grad", vec![8], "w2", |_| 3), Ok(false));
            assert_eq!(shapes.check("grad", vec![2], "w0", |_| 3), Ok(false));
        }
        assert!(!shapes.is_settled("grad"), "a tie is not a majority");
        assert_eq!(
            shapes.candidates["grad"].seen.len(),
            2,
            "a tie however long keeps one entry per worker and shape"
        );
        assert_eq!(
            shapes.check("grad", vec![8], "w1", |_| 3),
            Ok(true),
            "w1 decides"
        );
        assert!(shapes.check("grad", vec![2], "w0", |_| 3).is_err());
    }

    #[test]
    fn a_tie_waits_for_a_worker_that_never_answers_only_so_long() {
        // Four workers asked: two honest ones agree on [8], a third name sends a new shape
        // every time, the fourth (an insider's other name, or a hung task thread, heartbeats
        // going on) never answers. No majority of 3 can form; the tie waited for the fourth
        // forever, every result of the site dropped (no update, ever) and one more shape kept
        // per lie. Now it waits a bounded number of results, then the shape most workers
        // sent wins.
        let mut shapes = SiteShapes::default();
        let mut settled_at = None;
        for round in 0..1_000 {
            let _ = shapes.check("grad", vec![8], "w0", |_| 4);
            let _ = shapes.check("grad", vec![100 + round], "w2", |_| 4);
            let _ = shapes.check("grad", vec![8], "w1", |_| 4);
            if shapes.is_settled("grad") {
                settled_at = Some(round);
                break;
            }
        }
        let round = settled_at.expect("the shape settles");
        assert!(round < 200, "after {round} rounds");
        assert_eq!(shapes.check("grad", vec![8], "w0", |_| 4), Ok(true));
        assert!(shapes.check("grad", vec![3], "w2", |_| 4).is_err());
    }

    #[test]
    fn workers_that_all_disagree_settle_on_the_latest_shape() {
        let mut shapes = SiteShapes::default();
        for _ in 0..3 {
            assert_eq!(shapes.check("grad", vec![8], "w0", |_| 2), Ok(false));
            assert_eq!(shapes.check("grad", vec![2], "w1", |_| 2), Ok(false));
        }
        // Everyone was heard: past 2 * 2 + 2 results, the latest wins, as before.
        assert_eq!(shapes.check("grad", vec![8], "w0", |_| 2), Ok(true));
        assert!(shapes.check("grad", vec![2], "w1", |_| 2).is_err());
    }
}
