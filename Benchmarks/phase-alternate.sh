#!/usr/bin/env bash
# phase-alternate.sh URL_A URL_B ROUNDS PHASE SCENARIO [REGBENCH FLAGS...]
#
# Like alternate.sh, but reports one named phase of the scenario (e.g. `put-tags` of `tags`: the write phase, where
# alternate.sh reports the last, a read): each round's ops/s for A and B in alternating order, each side's median,
# and the median of the rounds' B/A ratios. Needs regbench (../shared/tools/bench/build.sh, or REGBENCH=PATH).
#   Benchmarks/phase-alternate.sh http://127.0.0.1:5301 http://127.0.0.1:5302 8 put-tags tags -n 500 -page 100 -c 8 -duration 1s
set -euo pipefail
a=${1:?usage: $0 URL_A URL_B ROUNDS PHASE SCENARIO [FLAGS...]}; b=${2:?}; rounds=${3:?}; phase=${4:?}; scenario=${5:?}
shift 5
regbench=${REGBENCH:-$HOME/.cache/regbench/regbench}
for round in $(seq 1 "$rounds"); do
  order="A B"; [ $((round % 2)) = 0 ] && order="B A"
  for side in $order; do
    url=$a; [ "$side" = B ] && url=$b
    "$regbench" "$scenario" -url "$url" -repo "phase/r$round" -q "$@" | tail -n 1 | sed "s/^/$round $side /"
  done
done | PHASE="$phase" python3 -c '
import json, os, statistics, sys
rows = {}
for line in sys.stdin:
    round, side, result = line.split(" ", 2)
    phase = [p for p in json.loads(result)["phases"] if p["phase"] == os.environ["PHASE"]][0]
    ops, p99 = phase["ops_s"], phase["p99_ms"]
    rows.setdefault(round, {})[side] = ops
    print(f"round {round} {side}: {ops:9.1f} ops/s (p99 {p99:.1f} ms)", flush=True)
a = [r["A"] for r in rows.values()]
b = [r["B"] for r in rows.values()]
print(f"median ops/s: A {statistics.median(a):.1f}, B {statistics.median(b):.1f}; "
      f"median of the rounds B/A: {statistics.median(y / x for x, y in zip(a, b)):.3f}")
'
