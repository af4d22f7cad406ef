#!/usr/bin/env bash
# Peak resident memory of a running wharf while four 1 GiB blobs upload at once (monolithic POST ?digest=,
# streamed by curl from files; no trailing slash, or curl -T appends the file name). Usage: Benchmarks/upload-memory.sh URL PID [SIZE_MIB]
set -euo pipefail
url=${1:?URL} pid=${2:?PID of wharf} size=${3:-1024}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for i in 1 2 3 4; do
  head -c "${size}M" /dev/urandom >"$dir/blob$i"
  echo "sha256:$(sha256sum "$dir/blob$i" | cut -d' ' -f1)" >"$dir/digest$i"
done
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
echo "before: $(($(rss_kib) / 1024)) MiB resident"
peak=0
for i in 1 2 3 4; do
  curl -sf -o /dev/null -X POST -T "$dir/blob$i" -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    "$url/v2/bench/memory$i/blobs/uploads?digest=$(cat "$dir/digest$i")" &
done
start=$(date +%s.%N)
while [ "$(jobs -r | wc -l)" -gt 0 ]; do
  r=$(rss_kib)
  [ "$r" -gt "$peak" ] && peak=$r
  sleep 0.1
done
wait
end=$(date +%s.%N)
for i in 1 2 3 4; do
  curl -sfI "$url/v2/bench/memory$i/blobs/$(cat "$dir/digest$i")" | grep -qi "content-length: $((size * 1048576))" \
    || { echo "blob $i missing after upload" >&2; exit 1; }
done
echo "4 x ${size} MiB uploaded in $(awk "BEGIN {printf \"%.1f\", $end - $start}") s; peak resident memory $((peak / 1024)) MiB"
