//! What an author holds during a run can move to another thread: a run started on a thread
//! of its own (`std::thread::spawn(move || my_opt(&mut driver, ...))`), or a driver held
//! across an await in a multi-threaded task. Checked when this file compiles.

use asyncopt_runtime::checkpoint::Checkpoint;
use asyncopt_runtime::{
    Collected, Driver, Flow, History, HistorySlice, Progress, ResultMeta, RunReport, RunStats,
    RuntimeError, StopHandle, WorkerInfo, WorkerTable,
};

fn assert_send<T: Send>() {}

#[test]
fn the_driver_and_the_handles_of_a_run_are_send() {
    assert_send::<Driver>();
    assert_send::<&mut Driver>();
    assert_send::<Progress>();
    assert_send::<Flow>();
    assert_send::<StopHandle>();
    assert_send::<Collected<f64>>();
    assert_send::<ResultMeta>();
    assert_send::<History>();
    assert_send::<HistorySlice>();
    assert_send::<WorkerTable>();
    assert_send::<WorkerInfo>();
    assert_send::<Checkpoint>();
    assert_send::<RunReport>();
    assert_send::<RunStats>();
    assert_send::<Result<RunReport, RuntimeError>>();
}
