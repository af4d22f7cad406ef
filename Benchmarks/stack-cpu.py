#!/usr/bin/env python3
"""stack-cpu.py: regbench with CPU accounting over groups of processes, and a report of it per request.

regbench's -server-pid reads one process's CPU time; a cluster's is the sum of several instances, and behind them
nginx, the S3 server and PostgreSQL work too. As REGBENCH for ../shared/tools/bench/compare.sh this script runs
the real regbench (REGBENCH_REAL) and, for every phase of its result, replaces `server_cpu_s` with the summed CPU
time of the side's `server` group and adds `stack_cpu_s`, one figure per group:

  STACK_CPU_GROUPS=FILE   JSON {"A": {"server": [pid, ...], "nginx": [...], "s3": [...], "pg": [...]}, "B": ...};
                          a pid stands for its process tree (children found through /proc/PID/task/PID/children,
                          rescanned every 0.5 s), and a reaped child's time is in its parent's cutime + cstime, so
                          forked workers such as PostgreSQL's backends are counted whenever they ran
  STACK_CPU_AFTER_SUITE=C  a shell command run after a suite's last scenario (`tags`), before compare.sh goes on
                          (e.g. the S3 server's garbage collection, so no side's garbage is collected during the
                          other side's measurements)

The side is regbench's -label. Samples are taken every 50 ms; a phase ends when regbench logs its summary line
(`regbench: PHASE: N ops, ...`), where the wrapper samples again, and starts `seconds` earlier (interpolated
between samples). Other regbench commands (ping, summarize, compare) run unchanged.

`stack-cpu.py report FILE.jsonl [--a NAME] [--b NAME] [--min RATIO] [--min PHASE=RATIO]` prints, per measured
phase and side, the throughput, B/A, and the CPU milliseconds per request of each group; `--min` marks whether
B/A of the throughput meets RATIO on every row, or on one phase (`manifests/get-tag=1.5`).
"""

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

HZ = os.sysconf("SC_CLK_TCK")
SUMMARY = re.compile(r"^regbench: ([A-Za-z0-9_.-]+): \d+ ops, \d+ req, ")


def process_cpu(pid):
    """utime + stime + cutime + cstime of one process, in ticks, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return sum(int(x) for x in fields[11:15])


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def tree(root):
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children(pid))
    return found


class Sampler:
    """Samples each group's CPU seconds (monotonic time, {group: seconds}) in a thread."""

    def __init__(self, groups, interval=0.05, rescan=0.5):
        self.groups, self.interval, self.rescan = groups, interval, rescan
        self.members = {}
        self.scanned = 0.0
        self.history = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.sample()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sample(self):
        with self.lock:
            now = time.monotonic()
            if now - self.scanned >= self.rescan:
                self.members = {g: [p for root in roots for p in tree(root)] for g, roots in self.groups.items()}
                self.scanned = now
            values = {g: sum(process_cpu(p) or 0 for p in pids) / HZ for g, pids in self.members.items()}
            self.history.append((time.monotonic(), values))
            return self.history[-1]

    def run(self):
        while not self.done.wait(self.interval):
            self.sample()

    def stop(self):
        self.done.set()
        self.thread.join()

    def at(self, t):
        """The groups' CPU seconds at time t, interpolated between the samples around it."""
        with self.lock:
            history = list(self.history)
        before = [h for h in history if h[0] <= t]
        after = [h for h in history if h[0] >= t]
        if not before:
            return history[0][1]
        if not after:
            return history[-1][1]
        (t0, v0), (t1, v1) = before[-1], after[0]
        if t1 == t0:
            return v0
        w = (t - t0) / (t1 - t0)
        return {g: v0[g] + w * (v1[g] - v0[g]) for g in v0}


def wrap(args):
    real = os.environ["REGBENCH_REAL"]
    groups_file = os.environ.get("STACK_CPU_GROUPS")
    label = args[args.index("-label") + 1] if "-label" in args[:-1] else None
    groups = {}
    if groups_file and label:
        with open(groups_file) as f:
            groups = json.load(f).get(label, {})
    if not groups:
        os.execv(real, [real, *args])

    sampler = Sampler(groups)
    ends = []  # (phase, time, values), as regbench logs each phase's summary

    process = subprocess.Popen([real, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def read_stderr():
        for line in process.stderr:
            match = SUMMARY.match(line)
            if match:
                t, values = sampler.sample()
                ends.append((match.group(1), t, values))
            sys.stderr.write(line)
            sys.stderr.flush()

    reader = threading.Thread(target=read_stderr)
    reader.start()
    out = process.stdout.read()
    code = process.wait()
    reader.join()
    sampler.stop()

    lines = out.splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        sys.stdout.write(out)
        return code
    for phase in result.get("phases") or []:
        end = next((e for e in ends if e[0] == phase["phase"]), None)
        if end is None:
            result.setdefault("notes", []).append(f"stack-cpu: no summary line for phase {phase['phase']}")
            continue
        ends.remove(end)
        _, t1, v1 = end
        v0 = sampler.at(t1 - phase["seconds"])
        cpu = {g: round(max(0.0, v1[g] - v0[g]), 3) for g in v1}
        if "server" in cpu:
            phase["server_cpu_s"] = cpu["server"]
        phase["stack_cpu_s"] = cpu
        if phase["phase"] == result.get("phase"):
            result["server_cpu_s"] = phase.get("server_cpu_s")
            result["stack_cpu_s"] = cpu
    print(json.dumps(result, separators=(",", ":")), flush=True)
    for line in lines[:-1]:
        print(line)

    hook = os.environ.get("STACK_CPU_AFTER_SUITE")
    if hook and args and args[0] == "tags":
        subprocess.run(hook, shell=True, stdout=sys.stderr, stderr=sys.stderr)
    return code


# --- report


def throughput(scenario, phase):
    if scenario in ("push-blobs", "pull-blobs"):
        return "MiB/s", lambda s: s["mib_s"]
    if scenario == "mixed":
        return "pulls/s", lambda s: s["ops_s"]
    if phase in ("list-paged", "list-full"):
        return "list/s", lambda s: s["ops_s"]
    return "req/s", lambda s: s["req_s"]


def report(args):
    files, names, minimum, per_phase = [], {"A": "A", "B": "B"}, None, {}
    i = 0
    while i < len(args):
        if args[i] in ("--a", "--b"):
            names[args[i][2:].upper()] = args[i + 1]
            i += 2
        elif args[i] == "--min":
            key, _, value = args[i + 1].rpartition("=")
            if key:
                per_phase[key] = float(value)
            else:
                minimum = float(value)
            i += 2
        else:
            files.append(args[i])
            i += 1
    rows = {}  # (name, phase) -> side -> [stats]
    order = []
    for file in files:
        with open(file) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                result = json.loads(line)
                for phase in result.get("phases") or []:
                    if phase["phase"].startswith("setup"):
                        continue
                    key = (result["name"], result["scenario"], phase["phase"])
                    if key not in rows:
                        order.append(key)
                    rows.setdefault(key, {}).setdefault(result["label"], []).append(phase)

    groups = []
    for key in order:
        for runs in rows[key].values():
            for run in runs:
                for g in run.get("stack_cpu_s", {}):
                    if g not in groups:
                        groups.append(g)
    print(f"A = {names['A']}, B = {names['B']}; means over the runs of each side. CPU: milliseconds per request "
          "(all runs' CPU seconds over all their requests), per group of processes; `all` is their sum.")
    header = f"{'scenario/phase':<26} {'side':<4} {'throughput':>16} {'B/A':>6} {'errors':>6} {'req':>8}"
    header += "".join(f" {g:>7}" for g in groups) + f" {'all':>7}"
    print(header)
    print("-" * len(header))
    verdicts = []
    for key in order:
        name, scenario, phase = key
        unit, get = throughput(scenario, phase)
        means = {}
        for side in ("A", "B"):
            runs = rows[key].get(side, [])
            if not runs:
                continue
            means[side] = statistics.mean(get(r) for r in runs)
        ratio = means["B"] / means["A"] if len(means) == 2 and means["A"] > 0 else None
        for side in ("A", "B"):
            runs = rows[key].get(side, [])
            if not runs:
                continue
            requests = sum(r["requests"] for r in runs)
            errors = sum(r["errors"] for r in runs)
            cpu = {g: sum(r.get("stack_cpu_s", {}).get(g, 0.0) for r in runs) for g in groups}
            per = lambda s: f"{1000 * s / requests:7.3f}" if requests else f"{'-':>7}"
            label = f"{name}/{phase}" if side == "A" else ""
            shown = f"{ratio:6.2f}" if side == "B" and ratio is not None else f"{'':>6}"
            print(f"{label:<26} {side:<4} {means[side]:>8.1f} {unit:<7} {shown} {errors:>6} {requests:>8}"
                  + "".join(f" {per(cpu[g])}" for g in groups) + f" {per(sum(cpu.values()))}")
        target = per_phase.get(f"{name}/{phase}", minimum)
        if target is not None and ratio is not None:
            verdicts.append((f"{name}/{phase} {unit}", ratio, target))
    if verdicts:
        print()
        for what, ratio, target in verdicts:
            print(f"target B/A >= {target:g}: {what:<36} {ratio:6.2f}  {'met' if ratio >= target else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        sys.exit(report(sys.argv[2:]))
    sys.exit(wrap(sys.argv[1:]))
