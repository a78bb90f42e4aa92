//! Scores of a model on held-out data, the ones that fit its loss: RMSE and R^2 for least
//! squares; accuracy, log-loss and ROC AUC for logistic regression (labels `+1`/`-1`). The
//! objective is reported for both.

use asyncopt_runtime::data::Rows;
use ndarray::ArrayView1;
use serde::Serialize;

use crate::loss::{log1p_exp, sigmoid};
use crate::Loss;

/// What [`evaluate`] measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Metrics {
    /// Least squares, plain or ridge.
    Regression {
        /// Rows scored.
        rows: usize,
        /// The loss's objective on these rows.
        objective: f64,
        /// Root mean squared error of the predictions `x.w`.
        rmse: f64,
        /// Coefficient of determination, `1 - SS_res / SS_tot` (NaN for a constant target).
        r2: f64,
    },
    /// Logistic regression.
    Classification {
        /// Rows scored.
        rows: usize,
        /// The loss's objective on these rows.
        objective: f64,
        /// Share of rows whose predicted class is their label: `+1` for `x.w > 0`, `-1`
        /// otherwise (a margin of exactly 0 predicts `-1`, as scikit-learn's `predict`).
        accuracy: f64,
        /// Mean negative log-likelihood of the labels, `log(1 + exp(-y x.w))`.
        log_loss: f64,
        /// Area under the ROC curve of the margins (ties count one half; NaN with one class).
        auc: f64,
    },
}

/// Why [`predict`] or [`evaluate`] could not score a model: it has not one weight per feature
/// of the rows (a model trained on other data, a bias column added to one and not the other).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a model of {weights} weights cannot score rows of {features} features")]
pub struct WidthError {
    /// The model's weights.
    pub weights: usize,
    /// The rows' features ([`Rows::dim`]), any bias column among them.
    pub features: usize,
}

/// Checks that `w` has one weight per feature of `rows`, as [`predict`] and [`evaluate`] do
/// before any `x.w`: the one check of this width, which a caller that computes margins of its
/// own calls too. Without it, dense rows panic inside `dot` and sparse rows score a vector
/// that is too long as if it fit.
pub fn check_width(rows: &(impl Rows + ?Sized), w: ArrayView1<'_, f64>) -> Result<(), WidthError> {
    if w.len() != rows.dim() {
        return Err(WidthError {
            weights: w.len(),
            features: rows.dim(),
        });
    }
    Ok(())
}

/// What the model predicts for row `i`: `x.w` for least squares, the probability of `+1` for
/// logistic regression; an error if `w` has not one weight per feature.
pub fn predict(
    loss: &Loss,
    rows: &(impl Rows + ?Sized),
    w: ArrayView1<'_, f64>,
) -> Result<Vec<f64>, WidthError> {
    check_width(rows, w)?;
    Ok((0..rows.len())
        .map(|i| prediction(loss, rows.dot(i, w)))
        .collect())
}

/// What the model predicts for a row of margin `x.w`: the margin for least squares, the
/// probability of `+1` for logistic regression.
pub fn prediction(loss: &Loss, margin: f64) -> f64 {
    if loss.is_classification() {
        sigmoid(margin)
    } else {
        margin
    }
}

/// The class a margin predicts: `+1` when `x.w > 0`, else `-1`. A tie (a row without
/// features and no bias, margin exactly 0) is `-1`, as scikit-learn predicts the positive
/// class only for a decision value above 0. Decided on the margin, not on the probability,
/// which rounds to 0.5 for margins within 1e-16 of 0.
pub fn label(margin: f64) -> i8 {
    if margin > 0.0 {
        1
    } else {
        -1
    }
}

/// Scores `w` on `rows` with the metrics that fit `loss`; an error if `w` has not one weight per
/// feature.
pub fn evaluate(
    loss: &Loss,
    rows: &(impl Rows + ?Sized),
    w: ArrayView1<'_, f64>,
) -> Result<Metrics, WidthError> {
    check_width(rows, w)?;
    let n = rows.len();
    let objective = loss.objective(rows, w);
    let margins: Vec<f64> = (0..n).map(|i| rows.dot(i, w)).collect();
    let labels: Vec<f64> = (0..n).map(|i| rows.label(i)).collect();
    let mean = |values: &mut dyn Iterator<Item = f64>| values.sum::<f64>() / n.max(1) as f64;
    if loss.is_classification() {
        let correct = margins
            .iter()
            .zip(&labels)
            .filter(|&(&m, &y)| (label(m) > 0) == (y > 0.0))
            .count();
        let log_loss = mean(
            &mut margins
                .iter()
                .zip(&labels)
                .map(|(&m, &y)| log1p_exp(-y * m)),
        );
        Ok(Metrics::Classification {
            rows: n,
            objective,
            accuracy: correct as f64 / n.max(1) as f64,
            log_loss,
            auc: roc_auc(&margins, &labels),
        })
    } else {
        let mse = mean(&mut margins.iter().zip(&labels).map(|(m, y)| (m - y) * (m - y)));
        let y_mean = mean(&mut labels.iter().copied());
        let total = mean(&mut labels.iter().map(|y| (y - y_mean) * (y - y_mean)));
        Ok(Metrics::Regression {
            rows: n,
            objective,
            rmse: mse.sqrt(),
            // A constant target explains nothing: R^2 is undefined, not -inf.
            r2: if total > 0.0 {
                1.0 - mse / total
            } else {
                f64::NAN
            },
        })
    }
}

/// ROC AUC by the rank-sum (Mann-Whitney) statistic, tied scores sharing their mean rank.
pub fn roc_auc(scores: &[f64], labels: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut positive_rank_sum, mut positives) = (0.0, 0usize);
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start..end (1-based: start+1..=end) share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            if labels[i] > 0.0 {
                positive_rank_sum += rank;
                positives += 1;
            }
        }
        start = end;
    }
    let negatives = scores.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    let p = positives as f64;
    (positive_rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncopt_runtime::data::{Dataset, Features};
    use ndarray::{array, Array1};

    #[test]
    fn auc_counts_pairs_and_ties() {
        // Pairs (positive, negative) ordered right: 3 of 4, and one tie counted one half.
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[-1.0, -1.0, 1.0, 1.0]),
            0.75
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[1.0, -1.0]), 0.5);
        assert_eq!(roc_auc(&[1.0, 2.0], &[-1.0, 1.0]), 1.0);
        assert!(roc_auc(&[1.0, 2.0], &[1.0, 1.0]).is_nan());
    }

    #[test]
    fn regression_scores_of_a_known_fit() {
        let x = array![[1.0], [2.0], [3.0], [4.0]];
        let data = Dataset::new("r", Features::Dense(x), array![1.0, 2.0, 3.0, 5.0]).unwrap();
        let w = Array1::from(vec![1.0]);
        let Metrics::Regression { rmse, r2, rows, .. } =
            evaluate(&Loss::LeastSquares, &data, w.view()).unwrap()
        else {
            panic!("least squares is a regression")
        };
        assert_eq!(rows, 4);
        // Residuals 0, 0, 0, -1: MSE 1/4; SS_tot / n = 2.1875.
        assert!((rmse - 0.5).abs() < 1e-15);
        assert!((r2 - (1.0 - 0.25 / 2.1875)).abs() < 1e-15);
        assert_eq!(
            predict(&Loss::LeastSquares, &data, w.view()).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        // A constant target: R^2 is undefined.
        let flat =
            Dataset::new("f", Features::Dense(array![[1.0], [2.0]]), array![1.0, 1.0]).unwrap();
        let Metrics::Regression { r2, .. } =
            evaluate(&Loss::LeastSquares, &flat, w.view()).unwrap()
        else {
            panic!("least squares is a regression")
        };
        assert!(r2.is_nan(), "{r2}");
    }

    #[test]
    fn the_class_comes_from_the_margin_where_the_probability_rounds_to_a_half() {
        assert_eq!(sigmoid(-1e-17), 0.5);
        assert_eq!(label(-1e-17), -1);
        assert_eq!(label(1e-17), 1);
    }

    #[test]
    fn a_margin_of_zero_predicts_the_negative_class() {
        // Rows without features under a model without bias: every margin is 0. Counted +1,
        // they scored below the all-negative baseline on w8a; scikit-learn says -1.
        assert_eq!(label(0.0), -1);
        assert_eq!(label(-0.0), -1);
        let x = array![[0.0], [0.0], [0.0], [1.0]];
        let data = Dataset::new("t", Features::Dense(x), array![-1.0, -1.0, -1.0, 1.0]).unwrap();
        let Metrics::Classification { accuracy, .. } = evaluate(
            &Loss::Logistic { lambda: 0.0 },
            &data,
            Array1::from(vec![1.0]).view(),
        )
        .unwrap() else {
            panic!("logistic is a classification")
        };
        assert_eq!(accuracy, 1.0);
    }

    #[test]
    fn classification_scores_of_a_known_model() {
        let x = array![[2.0], [-1.0], [0.5], [-3.0]];
        let data = Dataset::new("c", Features::Dense(x), array![1.0, -1.0, -1.0, 1.0]).unwrap();
        let w = Array1::from(vec![1.0]);
        let loss = Loss::Logistic { lambda: 0.0 };
        let Metrics::Classification {
            accuracy,
            log_loss,
            auc,
            objective,
            ..
        } = evaluate(&loss, &data, w.view()).unwrap()
        else {
            panic!("logistic is a classification")
        };
        assert_eq!(accuracy, 0.5);
        assert!((log_loss - objective).abs() < 1e-15, "no regulariser");
        // Positives score 2 and -3, negatives -1 and 0.5: pairs right (2,-1), (2,0.5).
        assert_eq!(auc, 0.5);
        let p = predict(&loss, &data, w.view()).unwrap();
        assert!((p[0] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
        assert!(p.iter().all(|&v| (0.0..=1.0).contains(&v)));
    }

    #[test]
    fn weights_not_one_per_feature_are_an_error_not_a_panic() {
        // Dense rows panicked inside `dot` on a model of another width; sparse rows scored
        // a model that is too long as if it fit.
        let x = Features::Dense(array![[1.0, 0.0], [0.0, 2.0]]);
        let dense = Dataset::new("d", x, array![1.0, -1.0]).unwrap();
        for data in [dense.to_sparse(), dense] {
            for weights in [vec![1.0], vec![1.0, 1.0, 1.0], vec![]] {
                let w = Array1::from(weights.clone());
                let expected = WidthError {
                    weights: weights.len(),
                    features: 2,
                };
                for loss in [Loss::LeastSquares, Loss::Logistic { lambda: 0.0 }] {
                    assert_eq!(predict(&loss, &data, w.view()), Err(expected.clone()));
                    assert_eq!(evaluate(&loss, &data, w.view()), Err(expected.clone()));
                }
                assert_eq!(
                    expected.to_string(),
                    format!(
                        "a model of {} weights cannot score rows of 2 features",
                        weights.len()
                    )
                );
            }
        }
    }
}
