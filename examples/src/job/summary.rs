//! The files an outcome is kept in: the summary JSON and the saved model.

use std::path::Path;

use anyhow::{Context, Result};
use asyncopt_runtime::data::Dataset;

use super::settings::hyperparameters;
use super::{DataAccess, DataSource, Outcome};
use crate::model_file::{self, DataInfo, SavedModel};
use crate::optimizer::Setting;
use crate::trace::write_whole;

/// The summary's fields that a saved model keeps as its settings.
const SETTINGS: &[&str] = &[
    "algo",
    "dataset",
    "data_access",
    "eval_rows",
    "loss",
    "lambda",
    "bias",
    "workers",
    "stragglers",
    "seed",
    "step",
    "batch",
    "precondition",
    "momentum",
    "quorum",
    "max_staleness",
    "staleness_aware",
    "epoch",
    "prefetch",
    "partitions_per_worker",
    "params",
    "updates",
    "elapsed_s",
];

impl Outcome {
    /// The summary as JSON, `data` being what the run trained on: the run's settings and
    /// measures, and what a colleague needs to run it again (the program, the command line,
    /// the data's path and fingerprint).
    pub fn summary(&self, data: &Dataset) -> serde_json::Value {
        let mut summary = self.settings_and_measures();
        let (given, canonical) = match &self.spec.data {
            DataSource::File { path, .. } => (
                Some(path.to_string_lossy().into_owned()),
                // Its folder is known by no other name once the command has ended.
                std::fs::canonicalize(path)
                    .ok()
                    .map(|path| path.to_string_lossy().into_owned()),
            ),
            DataSource::Builtin => (None, None),
        };
        let rerun = serde_json::json!({
            "data_path": given,
            "data_path_canonical": canonical,
            "data_sha256": data.fingerprint(),
            "data_sha256_of": model_file::sha256_of(data),
            "time_s": self.spec.stop.time_s,
        });
        if let (Some(map), serde_json::Value::Object(rerun), serde_json::Value::Object(by)) =
            (summary.as_object_mut(), rerun, self.spec.provenance.json())
        {
            map.extend(by);
            map.extend(rerun);
        }
        summary
    }

    /// The summary's settings and measures, without what is read of the data.
    fn settings_and_measures(&self) -> serde_json::Value {
        let stats = &self.report.stats;
        let (model_updates, model_elapsed_s) = self.model_at();
        // A setting the optimizer does not read is null: its default changed nothing.
        let read = |setting: Setting, value: serde_json::Value| {
            if self.algorithm.reads_setting(setting) {
                value
            } else {
                serde_json::Value::Null
            }
        };
        let epoch = match (self.spec.epoch, self.report.notes.get("epoch")) {
            // The length the optimizer used when it chose it (`--epoch 0`: one pass).
            (0, Some(&chosen)) => chosen as usize,
            (given, _) => given,
        };
        // The access the run used (`auto` resolved); the sample's size only where one is read.
        let (data_access, eval_rows) = match &self.spec.data {
            DataSource::File {
                access: DataAccess::Shared { eval_rows, .. },
                ..
            } => ("shared", Some(*eval_rows)),
            // The built-in set is in the driver's memory, and shipped.
            _ => ("ship", None),
        };
        serde_json::json!({
            "algo": self.algorithm.name(),
            "dataset": self.dataset,
            "data_access": data_access,
            "eval_rows": eval_rows,
            // Every linear model's objective reads them; a model of the author's own type only
            // if its optimizer says so.
            "loss": read(Setting::Loss, self.spec.loss.name().into()),
            "lambda": read(Setting::Lambda, self.spec.loss.lambda().into()),
            "bias": self.spec.bias,
            "workers": self.spec.cluster.workers,
            "stragglers": self.spec.cluster.stragglers.to_string(),
            "seed": self.spec.cluster.seed,
            "step": self.step,
            "step_smallest": self.step_smallest,
            "batch": self.spec.batch,
            "batch_used": self.batch_used,
            "precondition": read(Setting::Precondition, self.spec.precondition.name().into()),
            "momentum": read(Setting::Momentum, self.spec.momentum.into()),
            "quorum": read(Setting::Quorum, self.spec.quorum.into()),
            "max_staleness": read(Setting::MaxStaleness, self.spec.max_staleness.into()),
            "staleness_aware": read(Setting::StalenessAware, self.spec.staleness_aware.into()),
            "epoch": read(Setting::Epoch, epoch.into()),
            "prefetch": self.spec.cluster.prefetch,
            "partitions_per_worker": self.spec.cluster.partitions_per_worker,
            "params": hyperparameters(self.algorithm, &self.spec.params),
            "notes": self.report.notes,
            // Those of the model the files hold; `stats` has what the driver applied.
            "updates": model_updates,
            "elapsed_s": model_elapsed_s,
            "final_objective": self.final_objective(),
            // The rows the objective was measured on, and the data's: fewer on a sample.
            "objective_rows": self.objective_rows(),
            "data_rows": self.data_rows,
            "objective_sample_rows": self.sampled.map(|(rows, _)| rows),
            "optimum": self.optimum,
            "optimum_of": self.optimum_of,
            // Only for a target missed on an evaluation sample: the file's, from one pass.
            "final_objective_file": self.file_objective,
            "final_subopt_file": self.final_file_subopt(),
            "final_subopt": self.final_subopt(),
            "target_subopt": self.spec.stop.target_subopt,
            "time_to_target_s": self.time_to_target(),
            "target_reached": self.target_reached(),
            "ended_by": self.ended_by(),
            "dropped_stale": stats.dropped_stale,
            "bytes_sent": stats.bytes_sent,
            "bytes_received": stats.bytes_received,
            "broadcast_bytes": stats.broadcast_bytes,
            "broadcast_full_bytes": stats.broadcast_full_bytes,
            "history_bytes": stats.history_bytes,
            "task_bytes": stats.task_bytes,
            "data_bytes": stats.data_bytes,
            "versions_sent": stats.versions_sent,
            "versions_reused": stats.versions_reused,
            // The per-worker arrays are in the worker table's order: the names say whose.
            "worker_names": self.report.workers.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
            "wait_s_per_worker": self.report.wait_s_per_worker(),
            "network_s_per_worker": self.report.network_s_per_worker(),
            "lost_workers": stats.lost_workers,
            "moved_partitions": stats.moved_partitions,
            "checkpoints_written": stats.checkpoints_written,
            "checkpoints_failed": self.report.checkpoints_failed,
            "checkpoint_error": self.report.checkpoint_error,
            "resumed_from": self.resumed_from.map(|(updates, elapsed_s)| serde_json::json!({
                "updates": updates,
                "elapsed_s": elapsed_s,
            })),
            "failure": self.failure,
            "interrupted": self.interrupted,
            "recorded_unscored": self.recorded_unscored,
            "stats": stats_with_pauses(stats, &self.report.driver_pauses),
            "worker_table": self.report.workers,
            "forgotten_workers": self.report.forgotten_workers,
        })
    }

    /// Writes the summary JSON of the run on `data`.
    pub fn write_summary(&self, path: &Path, data: &Dataset) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.summary(data))? + "\n";
        write_whole(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The model this run trained, with what is needed to use it (`data`: what it trained on):
    /// a linear model's weights, or an author's model as its serde JSON.
    pub fn saved_model(&self, data: &Dataset) -> Result<SavedModel> {
        let mut settings = self.settings_and_measures();
        if let Some(map) = settings.as_object_mut() {
            // The settings of the run, not its measurements.
            map.retain(|key, _| SETTINGS.contains(&key.as_str()));
        }
        let (weights, own) = match self.model.linear() {
            Some(w) => (w.to_vec(), None),
            None => {
                let json = self.model.to_json().with_context(|| {
                    format!("the model ({}) has no JSON form", self.model.type_name())
                })?;
                (Vec::new(), Some(json))
            }
        };
        Ok(SavedModel {
            format: model_file::FORMAT.into(),
            version: model_file::VERSION,
            // As the settings say: what an own type's optimizer does not read, it was not
            // trained under (null), whatever the default.
            loss: self
                .algorithm
                .reads_setting(Setting::Loss)
                .then(|| self.spec.loss.name().into()),
            lambda: self
                .algorithm
                .reads_setting(Setting::Lambda)
                .then(|| self.spec.loss.lambda()),
            features: data.dim() - usize::from(self.spec.bias.is_some()),
            bias: self.spec.bias,
            data: DataInfo::of(data, self.objective_rows()),
            settings,
            objective: self.final_objective(),
            ended_by: Some(self.ended_by().into()),
            weights,
            own,
        })
    }
}

/// The counters `stats` with the driver's own `pauses` among them, where the faults line
/// sends its reader (`see "stats" in the summary`).
fn stats_with_pauses(
    stats: &asyncopt_runtime::RunStats,
    pauses: &asyncopt_runtime::DriverPauses,
) -> serde_json::Value {
    let mut value = serde_json::json!(stats);
    if let Some(fields) = value.as_object_mut() {
        fields.insert("driver_pauses".into(), serde_json::json!(pauses));
    }
    value
}
