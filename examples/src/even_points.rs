//! The evaluation points a run keeps as it goes, in bounded memory.
//!
//! The stop rules evaluate every `--eval-every` seconds (0.05 by default), or as often as
//! their budget allows: a run of hours evaluates hundreds of thousands of times. Every point
//! kept would grow the driver's memory, the trace and plot written at the end, and each
//! checkpoint (which holds the trace so far) with the run's length. So past [`MAX_KEPT`]
//! points, every other one is dropped and only every other new one is kept from then on:
//! the trace stays evenly spaced over the whole run. The latest point is always kept (the
//! one that stopped the run, reaching its target or diverging, is the trace's last).

use crate::trace::TracePoint;

/// At most this many points (and the latest) are kept: 16384 points take under a megabyte,
/// and space a ten-hour run's trace about two seconds apart.
pub const MAX_KEPT: usize = 1 << 14;

/// Drops every other entry of `items`, oldest first: the first, third, ... stay, so entries
/// spaced evenly stay so at twice the spacing.
pub(crate) fn halve<T>(items: &mut Vec<T>) {
    let mut index = 0;
    items.retain(|_| {
        index += 1;
        index % 2 == 1
    });
}

/// A run's evaluation points, thinned evenly past a bound.
#[derive(Debug, Clone)]
pub struct EvenPoints {
    /// Every `stride`-th point offered, oldest first.
    kept: Vec<TracePoint>,
    /// The latest point offered, when it is not among `kept`.
    latest: Option<TracePoint>,
    /// Points offered so far.
    offered: u64,
    /// One point in this many offered is kept.
    stride: u64,
    /// Most points in `kept`: even, so that thinning keeps the stride's multiples.
    most: usize,
}

impl Default for EvenPoints {
    fn default() -> EvenPoints {
        EvenPoints::at_most(MAX_KEPT)
    }
}

impl EvenPoints {
    /// Points kept at most `most` at a time (rounded up to an even number, at least 2), and the
    /// latest.
    pub fn at_most(most: usize) -> EvenPoints {
        EvenPoints {
            kept: Vec::new(),
            latest: None,
            offered: 0,
            stride: 1,
            most: most.max(2).next_multiple_of(2),
        }
    }

    /// Offers the next point, in time order: kept if it falls on the stride.
    pub fn push(&mut self, point: TracePoint) {
        let index = self.offered;
        self.offered += 1;
        if !index.is_multiple_of(self.stride) {
            self.latest = Some(point);
            return;
        }
        if self.kept.len() >= self.most {
            // At the doubled stride, `index` still falls on it.
            halve(&mut self.kept);
            self.stride *= 2;
        }
        self.latest = None;
        self.kept.push(point);
    }

    /// Points kept, the latest included.
    pub fn len(&self) -> usize {
        self.kept.len() + usize::from(self.latest.is_some())
    }

    /// Whether no point was offered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The oldest point kept.
    pub fn first(&self) -> Option<&TracePoint> {
        self.kept.first().or(self.latest.as_ref())
    }

    /// The same points, each as `change` makes it, thinned as they were.
    pub fn map(mut self, change: impl Fn(TracePoint) -> TracePoint) -> EvenPoints {
        self.kept
            .iter_mut()
            .for_each(|point| *point = change(*point));
        self.latest = self.latest.map(change);
        self
    }

    /// The points kept, in time order, the latest last.
    pub fn to_vec(&self) -> Vec<TracePoint> {
        self.kept.iter().chain(&self.latest).copied().collect()
    }

    /// How far the thinning went: what a resumed run goes on from ([`EvenPoints::resumed`]).
    pub fn thinning(&self) -> Thinning {
        Thinning {
            offered: self.offered,
            stride: self.stride,
        }
    }

    /// The points of a run stopped with `thinning` (`points`, its [`EvenPoints::to_vec`]), to
    /// go on as if it had never stopped: its later points are kept at the stride it had
    /// reached, not at every one, which made a resumed trace denser than its earlier part.
    /// Refused when the points cannot be those such a run kept (a stride that no halving
    /// gives, a count the stride does not give).
    pub fn resumed(points: Vec<TracePoint>, thinning: Thinning) -> Result<EvenPoints, String> {
        let mut even = EvenPoints {
            latest: None,
            offered: thinning.offered,
            stride: thinning.stride,
            ..EvenPoints::default()
        };
        let Thinning { offered, stride } = thinning;
        let on_stride = match stride.is_power_of_two() {
            true => offered.div_ceil(stride),
            false => return Err(format!("a stride of {stride}, which no thinning reaches")),
        };
        let latest = offered > 0 && !(offered - 1).is_multiple_of(stride);
        let fits =
            on_stride <= even.most as u64 && (stride == 1 || 2 * on_stride > even.most as u64);
        if !fits || points.len() as u64 != on_stride + u64::from(latest) {
            return Err(format!(
                "{} rows, which a run that kept one in {stride} of {offered} points does not keep",
                points.len()
            ));
        }
        even.kept = points;
        if latest {
            even.latest = even.kept.pop();
        }
        Ok(even)
    }

    /// The points kept, in time order, the latest last.
    pub fn into_vec(self) -> Vec<TracePoint> {
        let mut points = self.kept;
        points.extend(self.latest);
        points
    }
}

/// How far a run's [`EvenPoints`] thinned its points: what a checkpoint keeps, so that a
/// resumed run goes on thinning where it was.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Thinning {
    /// Points offered so far.
    pub offered: u64,
    /// One point in this many offered is kept.
    pub stride: u64,
}

impl FromIterator<TracePoint> for EvenPoints {
    fn from_iter<I: IntoIterator<Item = TracePoint>>(points: I) -> EvenPoints {
        let mut even = EvenPoints::default();
        points.into_iter().for_each(|p| even.push(p));
        even
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(k: u64) -> TracePoint {
        TracePoint {
            elapsed_s: k as f64 * 0.05,
            updates: k * 100,
            objective: 1.0 / (k + 1) as f64,
            subopt: None,
            dropped_stale: 0,
        }
    }

    #[test]
    fn a_long_run_keeps_a_bounded_even_trace_with_its_first_and_latest_points() {
        let mut even = EvenPoints::at_most(64);
        let offered = 100_000;
        for k in 0..offered {
            even.push(point(k));
            assert!(even.len() <= 65, "{} points kept after {k}", even.len());
        }
        let points = even.to_vec();
        assert_eq!(
            points.first().map(|p| p.updates),
            Some(0),
            "the first point"
        );
        assert_eq!(
            points.last().map(|p| p.updates),
            Some((offered - 1) * 100),
            "the latest point"
        );
        // Evenly spaced but for the latest, and spanning the run: no more than twice the
        // bound's spacing apart.
        let gaps: Vec<u64> = points[..points.len() - 1]
            .windows(2)
            .map(|w| w[1].updates - w[0].updates)
            .collect();
        assert!(gaps.windows(2).all(|g| g[0] == g[1]), "{gaps:?}");
        assert!(points.len() > 32, "{} points", points.len());
        assert!(gaps[0] <= 2 * 100 * offered / 64, "a gap of {}", gaps[0]);
    }

    #[test]
    fn a_resumed_run_goes_on_thinning_as_one_never_stopped() {
        // A resume rebuilt its points as if each earlier one were offered anew, at a stride of
        // 1: its later points were kept at every one, a trace denser than the run's first part.
        let mut never_stopped = EvenPoints::at_most(MAX_KEPT);
        let total = 3 * MAX_KEPT as u64 + 17;
        (0..total).for_each(|k| never_stopped.push(point(k)));
        for stop_at in [
            5,
            MAX_KEPT as u64 + 1,
            2 * MAX_KEPT as u64 + 3,
            3 * MAX_KEPT as u64,
        ] {
            let mut first = EvenPoints::at_most(MAX_KEPT);
            (0..stop_at).for_each(|k| first.push(point(k)));
            let mut resumed =
                EvenPoints::resumed(first.to_vec(), first.thinning()).expect("a run's own points");
            (stop_at..total).for_each(|k| resumed.push(point(k)));
            let updates = |even: &EvenPoints| -> Vec<u64> {
                even.to_vec().iter().map(|p| p.updates).collect()
            };
            assert_eq!(
                updates(&resumed),
                updates(&never_stopped),
                "stopped after {stop_at} points"
            );
        }
        // Points no run keeps at that thinning are refused.
        let few: Vec<TracePoint> = (0..3).map(point).collect();
        let odd = Thinning {
            offered: 3,
            stride: 3,
        };
        assert!(EvenPoints::resumed(few.clone(), odd).is_err());
        let sparse = Thinning {
            offered: 3_000_000,
            stride: 4,
        };
        assert!(EvenPoints::resumed(few, sparse).is_err());
    }

    #[test]
    fn a_short_run_keeps_every_point() {
        let even: EvenPoints = (0..10).map(point).collect();
        let updates: Vec<u64> = even.into_vec().iter().map(|p| p.updates).collect();
        assert_eq!(updates, (0..10).map(|k| k * 100).collect::<Vec<_>>());
    }

    #[test]
    fn the_latest_point_is_kept_once() {
        let mut even = EvenPoints::at_most(2);
        (0..3).for_each(|k| even.push(point(k)));
        // 0 and 2 on the doubled stride: 2 is kept, not listed again as the latest.
        let updates: Vec<u64> = even.to_vec().iter().map(|p| p.updates).collect();
        assert_eq!(updates, vec![0, 200]);
        even.push(point(3));
        let updates: Vec<u64> = even.to_vec().iter().map(|p| p.updates).collect();
        assert_eq!(updates, vec![0, 200, 300]);
    }
}
