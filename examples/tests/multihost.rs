//! Several hosts on one machine: the driver and two workers each in a network namespace of
//! their own, joined by a bridge, with their own addresses (10.77.0.0/24, which exists only
//! inside these namespaces). The workers are started by hand with the driver's address and a
//! token file, as on real hosts. Skipped, with the reason printed, where namespaces cannot be
//! made (they need root).

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

    fn create() -> Result<Network, String> {
        let network = Network {
            prefix: format!("asy{}", std::process::id() % 100_000),
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
    std::env::var_os("ASYNC_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
        .join("a9a.xz")
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
    let network = match Network::create() {
        Ok(network) => network,
        Err(reason) => {
            println!("skipped: network namespaces cannot be made here ({reason})");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("async-multihost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "a-shared-secret-of-the-run-0123456789\n").unwrap();
    let summary = dir.join("summary.json");
    let (token, summary, data) = (
        token.to_str().unwrap().to_owned(),
        summary.to_str().unwrap().to_owned(),
        a9a().to_str().unwrap().to_owned(),
    );
    let driver = network.spawn(
        "drv",
        &[
            "--algo",
            "sgd",
            "--data",
            &data,
            "--workers",
            "2",
            "--remote-workers",
            "--bind",
            "tcp://10.77.0.1:7711",
            "--token-file",
            &token,
            "--batch",
            "1000",
            "--target-subopt",
            "1e-3",
            "--updates",
            "20000",
            "--join-timeout",
            "30",
            "--summary",
            &summary,
            "--quiet",
        ],
    );
    let workers: Vec<Child> = ["wa", "wb"]
        .iter()
        .map(|host| {
            network.spawn(
                host,
                &[
                    "worker",
                    "--driver",
                    "tcp://10.77.0.1:7711",
                    "--token-file",
                    &token,
                    "--name",
                    host,
                ],
            )
        })
        .collect();
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
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
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
