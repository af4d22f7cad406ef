#!/usr/bin/env bash
# alternate.sh URL_A URL_B ROUNDS SCENARIO [REGBENCH FLAGS...]
#
# One regbench scenario against two local registries, alternately (A B, then B A, ...), ROUNDS times. Prints
# each round's throughput of the scenario's last phase (MiB/s and req/s), each side's median, and the median of
# the rounds' B/A ratios. compare.sh runs each scenario only a few times, in a fixed order; on this machine its
# runs of one side spread by ±5-20%, more than a 5% difference. Many short rounds moments apart, in alternating
# order, cancel most of that drift. Needs regbench (../shared/tools/bench/build.sh, or REGBENCH=PATH).
# PHASE=NAME reports that phase of the scenario instead of its last (e.g. `put-tags` of `tags`, the writes).
# SETTLE=COMMAND runs after every run, before the next starts (e.g. until a side's background work is done).
#   Benchmarks/alternate.sh http://127.0.0.1:5201 http://127.0.0.1:5202 12 mixed -n 8 -layers 3 -size 4MiB -c 32 -duration 5s -verify=false
#   PHASE=put-tags Benchmarks/alternate.sh http://127.0.0.1:5301 http://127.0.0.1:5302 8 tags -n 500 -page 100 -c 8 -duration 1s
set -euo pipefail
a=${1:?usage: $0 URL_A URL_B ROUNDS SCENARIO [FLAGS...]}; b=${2:?}; rounds=${3:?}; scenario=${4:?}; shift 4
regbench=${REGBENCH:-$HOME/.cache/regbench/regbench}
for round in $(seq 1 "$rounds"); do
  order="A B"; [ $((round % 2)) = 0 ] && order="B A"
  for side in $order; do
    url=$a; [ "$side" = B ] && url=$b
    "$regbench" "$scenario" -url "$url" -repo "alternate/r$round" -q "$@" | tail -n 1 | sed "s/^/$round $side /"
    if [ -n "${SETTLE:-}" ]; then sh -c "$SETTLE" >&2; fi
  done
done | PHASE="${PHASE:-}" python3 -c '
import json, os, statistics, sys
rows = {}
for line in sys.stdin:
    round, side, result = line.split(" ", 2)
    result = json.loads(result)
    if os.environ["PHASE"]:
        result = [p for p in result["phases"] if p["phase"] == os.environ["PHASE"]][0]
    mib, req = result["mib_s"], result["requests"] / result["seconds"]
    rows.setdefault(round, {})[side] = (mib, req)
    print(f"round {round} {side}: {mib:9.1f} MiB/s {req:9.1f} req/s", flush=True)
for index, unit in ((0, "MiB/s"), (1, "req/s")):
    a = [r["A"][index] for r in rows.values()]
    b = [r["B"][index] for r in rows.values()]
    if 0 in a:
        continue  # no bytes (HEAD requests): no MiB/s row
    ratios = [r["B"][index] / r["A"][index] for r in rows.values()]
    print(f"{unit}: A median {statistics.median(a):.1f}, B median {statistics.median(b):.1f}; "
          f"B/A per round: median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}")
'
