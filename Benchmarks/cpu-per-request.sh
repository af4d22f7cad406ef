#!/usr/bin/env bash
# cpu-per-request.sh URL_A URL_B PATH [N] [ROUNDS]
#
# Server CPU time per request for one GET endpoint on two local registries, alternately (A, B, A, B, ...):
# N requests (default 30000) at concurrency 64 per side and round (default 6 rounds), server CPU read from
# /proc/PID/stat (utime + stime). Prints the median per side, and the median of the rounds' B/A ratios: the
# order alternates (A B, then B A) and each round's ratio compares runs made moments apart, which cancels most
# of this machine's slow drift. A steadier figure than throughput on a machine whose cores the client shares. Needs regbench (../shared/tools/bench/build.sh, or REGBENCH=PATH).
set -euo pipefail
a=${1:?usage: $0 URL_A URL_B PATH [N] [ROUNDS]}; b=${2:?}; path=${3:?}; n=${4:-30000}; rounds=${5:-6}
regbench=${REGBENCH:-$HOME/.cache/regbench/regbench}
pid_of() { ss -ltnpH "sport = :${1##*:}" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for round in $(seq 1 "$rounds"); do
  order="A B"; [ $((round % 2)) = 0 ] && order="B A"
  for side in $order; do
    url=$a; [ "$side" = B ] && url=$b
    pid=$(pid_of "$url")
    before=$(ticks "$pid"); start=$(date +%s.%N)
    "$regbench" get -url "$url$path" -n "$n" -c 64 -q >/dev/null 2>&1
    end=$(date +%s.%N); after=$(ticks "$pid")
    echo "$round $side $(( (after - before) * 1000000 / hz / n )) $(python3 -c "print(round($n / ($end - $start)))")"
  done
done | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin]
for side in "AB":
    cpu = [int(r[2]) for r in rows if r[1] == side]
    rps = [int(r[3]) for r in rows if r[1] == side]
    print(f"{side}: server CPU per request, median {statistics.median(cpu)} us (runs {cpu}); req/s median {statistics.median(rps)}")
rounds = {}
for r in rows:
    rounds.setdefault(r[0], {})[r[1]] = (int(r[2]), int(r[3]))
cpu = [v["B"][0] / v["A"][0] for v in rounds.values()]
rps = [v["B"][1] / v["A"][1] for v in rounds.values()]
print(f"B/A per round, median: server CPU per request {statistics.median(cpu):.3f}, req/s {statistics.median(rps):.3f}")
'
