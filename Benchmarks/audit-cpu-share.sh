#!/usr/bin/env bash
# audit-cpu-share.sh URL PATH [N]
#
# The share of a running Wharf's CPU time that goes to its audit log, measured inside one run: N GETs of PATH
# (default 60000, c=64) while `perf record -g` samples the server, then every sample is put in one group by its
# thread and call stack: the writer thread (chaining, segment writes, the index), building the record on the
# request path (`RequestAudit.begin`, `finish` with the encoding), or the rest of the server. Unlike comparing
# two servers' throughput, this needs no second run, so this machine's run-to-run drift (±5-15%) cancels out.
# It does not see indirect costs (the X-Request-Id header on the wire, cache effects). Needs perf (Debian:
# linux-perf) and regbench (../shared/tools/bench/build.sh, or REGBENCH=PATH).
set -euo pipefail
url=${1:?usage: $0 URL PATH [N]}; path=${2:?}; n=${3:-60000}
regbench=${REGBENCH:-$HOME/.cache/regbench/regbench}
pid=$(ss -ltnpH "sport = :${url##*:}" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
perf record -q -g -F 2000 -p "$pid" -o "$data/perf.data" -- "$regbench" get -url "$url$path" -n "$n" -c 64 -q \
  >/dev/null 2>&1
perf script -i "$data/perf.data" -F comm,ip,sym 2>/dev/null | python3 -c '
import collections, re, sys
groups = collections.Counter()
for sample in sys.stdin.read().split("\n\n"):
    lines = sample.strip().split("\n")
    if not lines[0].strip():
        continue
    if lines[0].split()[0].startswith("wharf-audit"):
        groups["audit writer thread"] += 1
    elif re.search(r"RequestAudit.5begin|RequestAudit.6finish", sample):
        groups["audit record on the request path"] += 1
    else:
        groups["everything else"] += 1
total = sum(groups.values())
for name, count in groups.most_common():
    print(f"{name:34} {count:7} samples  {100 * count / total:5.1f}%")
audit = total - groups["everything else"]
label = "audit, all"
print(f"{label:34} {audit:7} samples  {100 * audit / total:5.1f}%")
'
