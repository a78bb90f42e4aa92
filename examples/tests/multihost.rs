//! Several hosts on one machine: the driver and two workers each in a network namespace of
//! their own, joined by a bridge, with their own addresses (10.77.0.0/24, which exists only
//! inside these namespaces). The workers are started by hand with the driver's address and a
//! token file, as on real hosts. Skipped where namespaces cannot be made (they need root and
//! `ip` of iproute2), with a `skipped test:` line that `.ci/run` counts and lists.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_async-train");
const HOSTS: [(&str, &str); 3] = [
    ("drv", "10.77.0.1"),
    ("wa", "10.77.0.2"),
    ("wb", "10.77.0.3"),
];

fn ip(args: &[&str]) -> Result<Output, String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The namespaces of one test run, removed on drop.
struct Network {
    prefix: String,
}

impl Network {
    fn namespace(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// Makes the network of test `tag` (tests run in parallel, each with its own).
    fn create(tag: char) -> Result<Network, String> {
        let network = Network {
            prefix: format!("as{tag}{}", std::process::id() % 100_000),
        };
        let switch = network.namespace("sw");
        ip(&["netns", "add", &switch])?;
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &switch, "link", "set", "br0", "up"])?;
        for (i, (host, address)) in HOSTS.iter().enumerate() {
            let ns = network.namespace(host);
            let (inside, outside) = (
                format!("{}h{i}", network.prefix),
                format!("{}s{i}", network.prefix),
            );
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &inside, "type", "veth", "peer", "name", &outside,
            ])?;
            ip(&["link", "set", &inside, "netns", &ns])?;
            ip(&["link", "set", &outside, "netns", &switch])?;
            ip(&[
                "-n", &switch, "link", "set", &outside, "master", "br0", "up",
            ])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                &inside,
            ])?;
            ip(&["-n", &ns, "link", "set", &inside, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(network)
    }

    /// Takes `host` off the network (`up` false) or puts it back.
    fn link(&self, host: &str, up: bool) {
        let i = HOSTS.iter().position(|(h, _)| *h == host).expect("a host");
        let inside = format!("{}h{i}", self.prefix);
        ip(&[
            "-n",
            &self.namespace(host),
            "link",
            "set",
            &inside,
            if up { "up" } else { "down" },
        ])
        .expect("the link changes");
    }

    fn spawn(&self, host: &str, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.namespace(host), EXE])
            .args(args)
            .env("ASYNC_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ip netns exec starts")
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for host in ["sw", "drv", "wa", "wb"] {
            let _ = ip(&["netns", "del", &self.namespace(host)]);
        }
    }
}

fn a9a() -> PathBuf {
    test_support::data("a9a.xz")
}

/// The files a driver and its workers share: the token file, the summary to write, the data.
struct RunFiles {
    token: String,
    summary: String,
    data: String,
    /// The folder of the token and the summary, removed when the run's files drop.
    _scratch: test_support::Scratch,
}

/// The network of test `tag` and its files; `None` (the test is skipped, with the reason
/// printed) where namespaces cannot be made.
fn setup(tag: char) -> Option<(Network, RunFiles)> {
    let network = match Network::create(tag) {
        Ok(network) => network,
        Err(reason) => {
            test_support::skipped(&format!(
                "network namespaces cannot be made here (they need root and iproute2): {reason}"
            ));
            return None;
        }
    };
    let dir = test_support::scratch(&format!("multihost-{tag}"));
    let token = dir.join("token");
    std::fs::write(&token, format!("a-shared-secret-of-run-{tag}-0123456789\n")).unwrap();
    let path = |p: PathBuf| p.to_str().expect("a UTF-8 path").to_owned();
    let files = RunFiles {
        token: path(token),
        summary: path(dir.join("summary.json")),
        data: path(a9a()),
        _scratch: dir,
    };
    Some((network, files))
}

/// Starts a driver on `drv` listening on `port` for the workers `wa` and `wb`, then those
/// workers, each with its own extra arguments.
fn start_run(
    network: &Network,
    files: &RunFiles,
    port: u16,
    driver_args: &[&str],
    worker_args: &[&str],
) -> (Child, Vec<Child>) {
    let address = format!("tcp://10.77.0.1:{port}");
    let mut args = vec![
        "--data",
        &files.data,
        "--workers",
        "2",
        "--remote-workers",
        "--bind",
        &address,
        "--token-file",
        &files.token,
        "--join-timeout",
        "30",
        "--summary",
        &files.summary,
        "--quiet",
    ];
    args.extend_from_slice(driver_args);
    let driver = network.spawn("drv", &args);
    let workers = ["wa", "wb"]
        .iter()
        .map(|host| {
            let mut args = vec!["worker", "--driver", &address, "--token-file", &files.token];
            args.extend_from_slice(&["--name", host]);
            args.extend_from_slice(worker_args);
            network.spawn(host, &args)
        })
        .collect();
    (driver, workers)
}

fn wait(child: Child, limit: Duration) -> Output {
    let begun = Instant::now();
    let mut child = child;
    while child.try_wait().ok().flatten().is_none() && begun.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().expect("output")
}

#[test]
fn driver_and_workers_on_separate_hosts_train_sgd_on_a9a() {
    let Some((network, files)) = setup('a') else {
        return;
    };
    let (driver, workers) = start_run(
        &network,
        &files,
        7711,
        &[
            "--algo",
            "sgd",
            "--batch",
            "1000",
            "--target-subopt",
            "1e-3",
            "--updates",
            "20000",
        ],
        &[],
    );
    let output = wait(driver, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "driver failed: {stdout}\n{stderr}");
    for worker in workers {
        let output = wait(worker, Duration::from_secs(20));
        assert!(
            output.status.success(),
            "worker: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.summary).unwrap()).unwrap();
    assert!(
        summary["final_subopt"].as_f64().unwrap() <= 1e-3,
        "{summary}"
    );
    let names: Vec<&str> = summary["worker_table"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"wa") && names.contains(&"wb"), "{names:?}");
}

#[test]
fn a_worker_cut_off_is_marked_lost_and_rejoins_when_its_link_returns() {
    let Some((network, files)) = setup('b') else {
        return;
    };
    // Training runs 24 s; one worker is off the network for 7 s from about 4 s in, longer
    // than the 5 s either side waits before it calls the other lost.
    let (driver, workers) = start_run(
        &network,
        &files,
        7712,
        &["--algo", "asgd", "--time", "24", "--updates", "100000000"],
        &["--reconnect", "60"],
    );
    std::thread::sleep(Duration::from_secs(5));
    network.link("wb", false);
    std::thread::sleep(Duration::from_secs(7));
    network.link("wb", true);
    let output = wait(driver, Duration::from_secs(90));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "driver failed: {stderr}");
    let logs: Vec<String> = workers
        .into_iter()
        .map(|w| String::from_utf8_lossy(&wait(w, Duration::from_secs(20)).stderr).into_owned())
        .collect();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.summary).unwrap()).unwrap();
    eprintln!("worker logs:\n{}", logs.join("\n"));
    assert!(
        summary["lost_workers"].as_u64().unwrap() >= 1,
        "the cut-off worker was lost: {summary}"
    );
    assert!(summary["final_objective"].as_f64().unwrap().is_finite());
    // It came back by a fresh handshake: under its own name, since the driver closed the
    // connection of the worker it declared lost (its row is the rejoined worker's now), or
    // under a fresh one (`wb.r...`) had the driver still held that connection.
    assert!(
        logs[1].contains("not reachable") && logs[1].contains("retrying for 60 s"),
        "wb tried to join again: {}",
        logs[1]
    );
    let table = summary["worker_table"].as_array().unwrap();
    let rejoined = table
        .iter()
        .find(|w| {
            let name = w["name"].as_str().unwrap();
            (name == "wb" || name.starts_with("wb.r")) && w["alive"].as_bool().unwrap()
        })
        .unwrap_or_else(|| panic!("wb joined again: {table:?}"));
    assert!(
        rejoined["tasks_done"].as_u64().unwrap() > 0,
        "and received tasks: {rejoined}"
    );
    assert!(rejoined["alive"].as_bool().unwrap());
}
