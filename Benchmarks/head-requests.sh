#!/usr/bin/env bash
# head-requests.sh URL_A URL_B [ROUNDS]
#
# The read rows of issue 19 that compare.sh does not run, on two local registries, alternately (A B, then B A, ...):
# manifest HEAD by tag, GET and HEAD by digest (regbench's manifests scenario, c=64, 10 s a run, through
# alternate.sh), and blob HEAD (wrk, c=64, 10 s a run, on one 1 KiB blob pushed to both). Prints each row's medians
# and the median of the rounds' B/A ratios. Needs regbench (../shared/tools/bench/build.sh, or REGBENCH=PATH) and
# wrk (Debian's wrk).
set -euo pipefail
a=${1:?usage: $0 URL_A URL_B [ROUNDS]}; b=${2:?}; rounds=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
for op in head-tag get-digest head-digest; do
  echo "manifests $op: $(bash "$here/alternate.sh" "$a" "$b" "$rounds" manifests -n 50 -size 1KiB -c 64 -duration 10s \
    -op "$op" | tail -n 1)"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 1024 /dev/urandom > "$work/blob"
digest=sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)
for url in "$a" "$b"; do
  curl -sSf -o /dev/null -X POST --data-binary @"$work/blob" "$url/v2/bench/head/blobs/uploads/?digest=$digest"
done
echo 'wrk.method = "HEAD"' > "$work/head.lua"
for round in $(seq 1 "$rounds"); do
  order="A B"; [ $((round % 2)) = 0 ] && order="B A"
  for side in $order; do
    url=$a; [ "$side" = B ] && url=$b
    echo "$round $side $(wrk -t2 -c64 -d10s -s "$work/head.lua" "$url/v2/bench/head/blobs/$digest" |
      awk '/Requests\/sec/ {print $2}')"
  done
done | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin]
side = {s: [float(r[2]) for r in rows if r[1] == s] for s in "AB"}
rounds = {}
for r in rows:
    rounds.setdefault(r[0], {})[r[1]] = float(r[2])
ratios = [v["B"] / v["A"] for v in rounds.values()]
print(f"blob HEAD: req/s: A median {statistics.median(side[\"A\"]):.1f}, B median {statistics.median(side[\"B\"]):.1f};"
      f" B/A per round: median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}")
'
