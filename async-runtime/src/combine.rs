//! How the results of all partitions of a synchronous `reduce!` become one value.

use ndarray::{Array, Array1, Array2, ArrayD, Dimension};

/// How the results of all partitions of a synchronous `reduce!` become one value, on the
/// driver. Numbers and arrays (`Array1`, `Array2`, `ArrayD` of `f64`) combine by their mean
/// over partitions, each counting alike, a [`HistoryUpdate`](crate::HistoryUpdate) by
/// concatenating the partitions' entries, and tuples (of any arity up to 12) element by
/// element. Partitions may differ in size (by a few rows, more with the workers' own splits
/// of a shared file), so a mean of per-partition means is close to the mean over rows, not
/// equal to it: for the exact one, return a sum and its row count (`RowSum` of
/// `asyncopt-algorithms`), or a type of your own whose `combine` adds.
///
/// ```
/// use asyncopt_runtime::Combine;
/// use ndarray::array;
///
/// let mean = Combine::combine(vec![array![1.0, 2.0], array![3.0, 4.0]]);
/// assert_eq!(mean, array![2.0, 3.0]);
/// let (m, loss, g) = Combine::combine(vec![
///     (array![[1.0], [2.0]], 1.0, array![0.0]),
///     (array![[3.0], [4.0]], 3.0, array![2.0]),
/// ]);
/// assert_eq!((m, loss, g), (array![[2.0], [3.0]], 2.0, array![1.0]));
/// ```
#[diagnostic::on_unimplemented(
    message = "a synchronous reduce! cannot combine results of type `{Self}`",
    label = "the closure's result must implement `Combine`",
    note = "return an `f64`, an `Array1<f64>`, `Array2<f64>`, `ArrayD<f64>` or a tuple of them, or a type of your crate that implements `asyncopt_runtime::Combine` (another crate's type, such as a `Vec`, cannot: wrap it in a struct of yours)"
)]
pub trait Combine: Sized {
    /// Combines the results of every partition, in partition order. Called only after
    /// [`check`](Combine::check) accepted them.
    fn combine(parts: Vec<Self>) -> Self;

    /// Whether the parts can be combined (arrays: of one shape); the reason if not. A result of
    /// another shape is the worker's fault, and ends the run with an error instead of a panic.
    fn check(parts: &[&Self]) -> Result<(), String> {
        let _ = parts;
        Ok(())
    }
}

impl Combine for f64 {
    fn combine(parts: Vec<Self>) -> Self {
        parts.iter().sum::<f64>() / parts.len().max(1) as f64
    }
}

/// The mean of arrays of one shape.
fn mean<D: Dimension>(parts: Vec<Array<f64, D>>, empty: Array<f64, D>) -> Array<f64, D> {
    let n = parts.len().max(1) as f64;
    let mut parts = parts.into_iter();
    let Some(mut sum) = parts.next() else {
        return empty;
    };
    for part in parts {
        sum += &part;
    }
    sum / n
}

fn same_shape<D: Dimension>(parts: &[&Array<f64, D>]) -> Result<(), String> {
    match parts.split_first() {
        Some((first, rest)) => match rest.iter().find(|p| p.shape() != first.shape()) {
            Some(other) => Err(format!(
                "partitions returned arrays of shapes {:?} and {:?}, which have no mean",
                first.shape(),
                other.shape()
            )),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

impl Combine for Array1<f64> {
    fn combine(parts: Vec<Self>) -> Self {
        mean(parts, Array1::zeros(0))
    }
    fn check(parts: &[&Self]) -> Result<(), String> {
        same_shape(parts)
    }
}

impl Combine for Array2<f64> {
    fn combine(parts: Vec<Self>) -> Self {
        mean(parts, Array2::zeros((0, 0)))
    }
    fn check(parts: &[&Self]) -> Result<(), String> {
        same_shape(parts)
    }
}

impl Combine for ArrayD<f64> {
    fn combine(parts: Vec<Self>) -> Self {
        mean(parts, ArrayD::zeros(vec![0]))
    }
    fn check(parts: &[&Self]) -> Result<(), String> {
        same_shape(parts)
    }
}

/// A history update combines by concatenation: each partition's task wrote the entries of its
/// own rows, so the parts name disjoint rows and their union is every partition's update.
impl Combine for crate::HistoryUpdate {
    fn combine(parts: Vec<Self>) -> Self {
        let mut all = crate::HistoryUpdate::default();
        for part in parts {
            all.extend(part);
        }
        all
    }
}

macro_rules! combine_tuple {
    ($(($($t:ident $i:tt),+))+) => {$(
        impl<$($t: Combine),+> Combine for ($($t,)+) {
            #[allow(non_snake_case)]
            fn combine(parts: Vec<Self>) -> Self {
                $(let mut $t = Vec::with_capacity(parts.len());)+
                for part in parts {
                    $($t.push(part.$i);)+
                }
                ($($t::combine($t),)+)
            }

            fn check(parts: &[&Self]) -> Result<(), String> {
                $($t::check(&parts.iter().map(|p| &p.$i).collect::<Vec<&$t>>())?;)+
                Ok(())
            }
        }
    )+};
}

combine_tuple! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn matrices_and_tensors_combine_by_their_mean() {
        let m = Array2::combine(vec![array![[1.0, 2.0]], array![[3.0, 6.0]]]);
        assert_eq!(m, array![[2.0, 4.0]]);
        let d = ArrayD::combine(vec![
            array![[1.0], [1.0]].into_dyn(),
            array![[3.0], [5.0]].into_dyn(),
        ]);
        assert_eq!(d, array![[2.0], [3.0]].into_dyn());
    }

    #[test]
    fn tuples_of_any_arity_combine_element_by_element() {
        let parts = vec![
            (1.0, array![1.0], array![[1.0]], 2.0, 4.0),
            (3.0, array![3.0], array![[5.0]], 4.0, 0.0),
        ];
        assert_eq!(
            Combine::combine(parts),
            (2.0, array![2.0], array![[3.0]], 3.0, 2.0)
        );
    }

    #[test]
    fn history_updates_combine_by_concatenation_inside_a_tuple() {
        let part = |id: u64, value: f64| {
            let mut update = crate::HistoryUpdate::default();
            update.push(id, value);
            (2.0 * value, update)
        };
        let (mean, update) = Combine::combine(vec![part(4, 1.0), part(0, 3.0)]);
        assert_eq!(mean, 4.0);
        let mut table = crate::History::zeros(5);
        table.apply(&update);
        assert_eq!(table.slice([4, 0, 2]).values(), &[1.0, 3.0, 0.0]);
    }

    #[test]
    fn arrays_of_different_shapes_are_refused_before_combining() {
        let (a, b) = (array![[1.0, 2.0]], array![[1.0], [2.0]]);
        let error = Array2::check(&[&a, &b]).unwrap_err();
        assert!(
            error.contains("[1, 2]") && error.contains("[2, 1]"),
            "{error}"
        );
        assert!(Array2::check(&[&a, &a]).is_ok());
        let (x, y) = ((1.0, array![1.0]), (1.0, array![1.0, 2.0]));
        assert!(<(f64, Array1<f64>)>::check(&[&x, &y]).is_err());
    }
}
