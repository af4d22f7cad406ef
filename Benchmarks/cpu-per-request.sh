#!/usr/bin/env bash
# cpu-per-request.sh URL_A URL_B PATH [N] [ROUNDS]
#
# Server CPU time per request for one GET endpoint on two local registries, alternately (A, B, A, B, ...):
# N requests (default 30000) at concurrency 64 per side and round (default 6 rounds), server CPU read from
# /proc/PID/stat (utime + stime). Prints the median per side. A steadier figure than throughput on a machine
# whose cores the client shares. Needs regbench (../shared/tools/bench/build.sh, or REGBENCH=PATH).
set -euo pipefail
a=${1:?usage: $0 URL_A URL_B PATH [N] [ROUNDS]}; b=${2:?}; path=${3:?}; n=${4:-30000}; rounds=${5:-6}
regbench=${REGBENCH:-$HOME/.cache/regbench/regbench}
pid_of() { ss -ltnpH "sport = :${1##*:}" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for _ in $(seq 1 "$rounds"); do
  for side in A B; do
    url=$a; [ "$side" = B ] && url=$b
    pid=$(pid_of "$url")
    before=$(ticks "$pid"); start=$(date +%s.%N)
    "$regbench" get -url "$url$path" -n "$n" -c 64 -q >/dev/null 2>&1
    end=$(date +%s.%N); after=$(ticks "$pid")
    echo "$side $(( (after - before) * 1000000 / hz / n )) $(python3 -c "print(round($n / ($end - $start)))")"
  done
done | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin]
for side in "AB":
    cpu = [int(r[1]) for r in rows if r[0] == side]
    rps = [int(r[2]) for r in rows if r[0] == side]
    print(f"{side}: server CPU per request, median {statistics.median(cpu)} us (runs {cpu}); req/s median {statistics.median(rps)}")
'
