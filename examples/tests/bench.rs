//! `async-bench` runs outside the test suite, so a part of it could break unseen: its faults
//! part, the one that signals processes, runs here once, short (stops of 1 s, under the
//! liveness timeout: a long stop's cost is the system suite's), and its figures are checked
//! for what they say, never for how fast.

use std::process::Command;

use test_support::{scratch, succeeded};

const BENCH: &str = env!("CARGO_BIN_EXE_async-bench");

#[test]
fn the_faults_part_writes_one_row_per_fault_and_algorithm_and_the_run_survives_each() {
    let dir = scratch("bench-faults");
    let figures = dir.join("figures.json");
    let output = Command::new(BENCH)
        .args(["faults", "--repeats", "1", "--at", "0.3", "--stop", "1"])
        .arg("--out")
        .arg(&figures)
        .env("RUST_LOG", "error")
        .output()
        .expect("async-bench starts");
    succeeded(&output);
    let text = std::fs::read_to_string(&figures).expect("the figures file");
    let faults = &serde_json::from_str::<serde_json::Value>(&text).expect("JSON")["faults"];
    let rows = faults["runs"].as_array().expect("rows");
    let named: Vec<(&str, &str)> = rows
        .iter()
        .map(|row| {
            (
                row["fault"].as_str().unwrap(),
                row["algo"].as_str().unwrap(),
            )
        })
        .collect();
    let mut expected = Vec::new();
    for fault in ["none", "kill", "stop", "stop-driver"] {
        for algo in ["sgd", "asgd"] {
            expected.push((fault, algo));
        }
    }
    assert_eq!(named, expected);
    for row in rows {
        let run = &row["runs"][0];
        // Every fault is survived: each run reaches the target, without a failure.
        assert!(run["failure"].is_null(), "{row}");
        assert!(run["time_to_target_s"].as_f64().is_some(), "{row}");
        // A killed worker that was struck is lost, and its partition moved.
        if row["fault"] == "kill" && run["struck"] == true {
            assert_eq!(run["lost_workers"], 1, "{row}");
            assert!(run["moved_partitions"].as_u64() >= Some(1), "{row}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
