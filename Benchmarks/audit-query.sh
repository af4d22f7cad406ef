#!/usr/bin/env bash
# audit-query.sh URL [RECORDS]
#
# Fills a running Wharf's audit log to at least RECORDS records (default 1000000) with real requests
# (regbench's `get` against /v2/, tag lists and missing manifests of 50 repositories), then times
# GET /api/v1/audit for a set of filters, each run 5 times (best and worst shown), and prints how many
# records the index holds. Needs regbench (../shared/tools/bench/build.sh, or REGBENCH=PATH).
set -euo pipefail
url=${1:?usage: $0 URL [RECORDS]}
want=${2:-1000000}
regbench=${REGBENCH:-$HOME/.cache/regbench/regbench}

count() { curl -sf "$url/api/v1/audit?limit=1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["records"]; print(r[0]["seq"] if r else 0)'; }

have=$(count)
echo "audit records now: $have"
round=0
while [ "$have" -lt "$want" ]; do
  round=$((round + 1))
  "$regbench" get -url "$url/v2/" -n 200000 -c 32 -q >/dev/null
  for i in $(seq 1 50); do
    "$regbench" get -url "$url/v2/bench/repo-$i/tags/list" -n 2000 -c 8 -q >/dev/null
    "$regbench" get -url "$url/v2/bench/repo-$i/manifests/missing" -n 2000 -c 8 -q >/dev/null || true
  done
  have=$(count)
  echo "audit records now: $have"
done

since=$(date -u -d '-2 minutes' +%Y-%m-%dT%H:%M:%SZ)
until=$(date -u -d '-1 minutes' +%Y-%m-%dT%H:%M:%SZ)
cursor=$((have / 2))
queries=(
  "limit=100"
  "repository=bench/repo-7&limit=100"
  "repository=bench/repo-7&status=4xx&limit=1000"
  "action=pull-manifest&limit=100"
  "action=list-tags&repository=bench/repo-33&limit=100"
  "actor=anonymous&status=200&limit=100"
  "status=5xx&limit=100"
  "repository=no/such/repository&limit=100"
  "since=$since&until=$until&limit=1000"
  "action=pull-manifest&since=$since&until=$until&limit=100"
  "cursor=$cursor&limit=1000"
)
printf '%-70s %8s %8s %8s\n' query records best_s worst_s
for q in "${queries[@]}"; do
  times=()
  for _ in 1 2 3 4 5; do
    times+=("$(curl -sf -o /tmp/audit-query.json -w '%{time_total}' "$url/api/v1/audit?$q")")
  done
  n=$(python3 -c 'import json; print(len(json.load(open("/tmp/audit-query.json"))["records"]))')
  sorted=$(printf '%s\n' "${times[@]}" | sort -g)
  printf '%-70s %8s %8s %8s\n' "$q" "$n" "$(echo "$sorted" | head -1)" "$(echo "$sorted" | tail -1)"
done
