#!/usr/bin/env bash
# head-requests.sh URL_A URL_B [ROUNDS]
#
# The read rows of issue 19 that compare.sh does not run, on two local registries, alternately (A B, then B A, ...):
# manifest HEAD by tag, GET and HEAD by digest (regbench's manifests scenario, c=64, 10 s a run, through
# alternate.sh), and blob HEAD (Benchmarks/headbench, c=64, 10 s a run, on one 1 KiB blob pushed to both). Prints
# each row's medians and the median of the rounds' B/A ratios. OPS="head-tag ..." picks the manifest rows. Needs
# regbench (../shared/tools/bench/build.sh, or REGBENCH=PATH) and Go (Debian's golang-go) for headbench.
set -euo pipefail
a=${1:?usage: $0 URL_A URL_B [ROUNDS]}; b=${2:?}; rounds=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
for op in ${OPS:-head-tag get-digest head-digest}; do
  echo "manifests $op: $(bash "$here/alternate.sh" "$a" "$b" "$rounds" manifests -n 50 -size 1KiB -c 64 -duration 10s \
    -op "$op" | grep '^req/s')"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 1024 /dev/urandom > "$work/blob"
digest=sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)
# POST, then PUT with the digest: the upload every registry takes (Distribution 2.8 has no single-POST upload).
for url in "$a" "$b"; do
  location=$(curl -sSf -o /dev/null -D - -X POST "$url/v2/bench/head/blobs/uploads/" |
    tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
  case $location in http*) ;; *) location=$url$location ;; esac
  separator='?'; case $location in *\?*) separator='&' ;; esac
  curl -sSf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$work/blob" \
    "$location${separator}digest=$digest"
  curl -sSf -o /dev/null -I "$url/v2/bench/head/blobs/$digest"
done
(cd "$here/headbench" && go build -o "$work/headbench" .)
for round in $(seq 1 "$rounds"); do
  order="A B"; [ $((round % 2)) = 0 ] && order="B A"
  for side in $order; do
    url=$a; [ "$side" = B ] && url=$b
    echo "$round $side $("$work/headbench" -url "$url/v2/bench/head/blobs/$digest" -c 64 -d 10s)"
  done
done | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin]
side = {s: [float(r[2]) for r in rows if r[1] == s] for s in "AB"}
rounds = {}
for r in rows:
    rounds.setdefault(r[0], {})[r[1]] = float(r[2])
ratios = [v["B"] / v["A"] for v in rounds.values()]
a, b = (statistics.median(side[s]) for s in "AB")
print(f"blob HEAD: req/s: A median {a:.1f}, B median {b:.1f};"
      f" B/A per round: median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}")
'
