//! One training job: load the data, find the optimum and the step, launch the workers, run the
//! algorithm while an observer records the trace, and gather what the run produced.
//!
//! - `spec`: what a job is, [`JobSpec`], as the command line gives it;
//! - `data`: where its data comes from and how its loss reads it ([`DataSource`], [`prepare`]);
//! - `settings`: the settings and hyperparameters its optimizer reads ([`check_settings`]);
//! - `model_memory`: whether the driver can hold a model of the data's dimension, and send it;
//! - `step`: the optimum f* and the default step ([`optimum`], [`default_step`]);
//! - `past_count`: the workers live past the count the step was chosen for, warned of or
//!   shrunk for;
//! - `checkpoints`: the folder a run checkpoints into and the checkpoint it resumes;
//! - `run`: the run, step by step ([`run()`]), and `join_hint`: how remote workers join it;
//! - `outcome` and `summary`: what it produced ([`Outcome`]), and the files that keep it;
//! - `faults`: the line that says what went wrong along the way ([`fault_line`]).

mod checkpoints;
mod data;
mod faults;
mod join_hint;
mod model_memory;
mod outcome;
mod past_count;
mod run;
mod settings;
mod spec;
mod step;
mod summary;
mod whole_file;

pub use checkpoints::CHECKPOINT_LOCK;
pub(crate) use checkpoints::MAX_CHECKPOINT_S;
pub(crate) use data::{load_file, load_numbered_file};
pub use data::{load_for, prepare, DataAccess, DataSource};
pub use faults::fault_line;
pub(crate) use model_memory::check_linear_model;
pub use outcome::Outcome;
pub use run::run;
pub use settings::{check_params, check_settings};
pub use spec::{Checkpointing, JobSpec, StopRules};
pub(crate) use step::optimum_shown;
pub use step::{default_step, optimum, own_model_step, OptimumStopped};
