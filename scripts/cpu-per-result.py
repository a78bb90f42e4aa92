#!/usr/bin/env python3
"""CPU time per result of an async-train run, by thread, over its training only.

    scripts/cpu-per-result.py SUMMARY.json -- async-train --algo asgd ... --summary SUMMARY.json

Runs the command (which must write SUMMARY.json with --summary), reads every 10 ms the CPU
time (/proc/PID/task/TID/schedstat, in nanoseconds) of each thread of the driver and of its
worker processes, and prints, per kind of thread, the CPU it took during the training divided
by the results the driver received (`stats.results_received`), then the sum. The training is
the last `elapsed_s` seconds up to the last moment a worker's task thread ran; loading the data
and scoring the recorded models after the run are left out. Wall times on a loaded machine say
little; CPU per result says what each result costs the machine, whoever else runs.

Thread kinds: `driver:` or `worker:` then the thread's name (truncated by the kernel to 15
characters): the driver's link thread `async-driver-li`, its coordinator `async-train` (the
main thread, which also evaluates the objective for the stop rules), a worker's socket thread
`async-train` and its task thread `async-worker-ta`. Linux only.
"""
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

TASK_THREAD = "async-worker-ta"


def tree(root):
    pids, i = [root], 0
    while i < len(pids):
        try:
            for tid in os.listdir(f"/proc/{pids[i]}/task"):
                try:
                    with open(f"/proc/{pids[i]}/task/{tid}/children") as f:
                        pids += [int(x) for x in f.read().split()]
                except OSError:
                    pass
        except OSError:
            pass
        i += 1
    return pids


def snapshot(root):
    threads = {}
    for pid in tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    ns = int(f.read().split()[0])
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    name = f.read().strip()
            except (OSError, ValueError, IndexError):
                continue
            kind = ("driver:" if pid == root else "worker:") + name
            threads[(pid, tid)] = (kind, ns)
    return threads


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    summary_path, command = sys.argv[1], sys.argv[3:]
    run = subprocess.Popen(command)
    samples = []
    while run.poll() is None:
        samples.append((time.monotonic(), snapshot(run.pid)))
        time.sleep(0.01)
    if run.returncode not in (0, 3):
        sys.exit(f"the run failed (exit code {run.returncode})")
    summary = json.load(open(summary_path))
    results = summary["stats"]["results_received"]
    series, kinds = defaultdict(list), {}
    for at, threads in samples:
        for key, (kind, ns) in threads.items():
            series[key].append((at, ns))
            kinds[key] = kind
    ran = [
        later[0]
        for key, points in series.items()
        if kinds[key].endswith(TASK_THREAD)
        for earlier, later in zip(points, points[1:])
        if later[1] > earlier[1]
    ]
    if not ran or not results:
        sys.exit("no task ran: nothing to measure")
    end = max(ran)
    start = end - summary["elapsed_s"]

    def at(points, moment):
        value = 0
        for when, ns in points:
            if when > moment:
                break
            value = ns
        return value

    cpu, count = defaultdict(int), defaultdict(int)
    for key, points in series.items():
        cpu[kinds[key]] += at(points, end) - at(points, start)
        count[kinds[key]] += 1
    print(f"{results} results in {summary['elapsed_s']:.3f} s of training")
    for kind in sorted(cpu):
        if cpu[kind]:
            print(f"  {kind:24s} x{count[kind]:<3d} {cpu[kind] / results / 1e3:8.1f} us per result")
    print(f"  {'all':24s}      {sum(cpu.values()) / results / 1e3:8.1f} us per result")


if __name__ == "__main__":
    main()
