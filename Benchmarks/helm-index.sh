#!/usr/bin/env bash
# helm-index.sh URL [VERSIONS]
#
# Fills the chart repository /helm/bench-index of a running Wharf (no access control) with VERSIONS chart versions
# (default 5000: 50 charts of 100 versions, uploaded through ChartMuseum's API), then times GET index.yaml: single
# fetches with curl, then regbench's `get` (one client, then 8) for the latency percentiles, and the 304 that
# `helm repo update` gets on an unchanged repository. Needs regbench (../shared/tools/bench/build.sh, or
# REGBENCH=PATH). Run it against a release build: `swift build -c release --product wharf`.
set -euo pipefail
url=${1:?usage: $0 URL [VERSIONS]}
want=${2:-5000}
regbench=${REGBENCH:-$HOME/.cache/regbench/regbench}
index="$url/helm/bench-index/index.yaml"

python3 - "$url" "$want" <<'EOF'
import gzip, io, sys, tarfile, urllib.request
import yaml

url, want = sys.argv[1], int(sys.argv[2])
have = sum(len(v) for v in (yaml.safe_load(urllib.request.urlopen(f"{url}/helm/bench-index/index.yaml").read())
                             ["entries"] or {}).values())
for n in range(have, want):
    name, version = f"chart-{n % 50}", f"1.{n // 50}.0"
    chart = (f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"{n}\"\n"
             f"description: benchmark chart {n}\nkeywords: [bench, index]\n").encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(f"{name}/Chart.yaml")
        info.size = len(chart)
        tar.addfile(info, io.BytesIO(chart))
    request = urllib.request.Request(f"{url}/helm/bench-index/api/charts", data=gzip.compress(raw.getvalue()),
                                     method="POST")
    urllib.request.urlopen(request).read()
print(f"chart versions: {max(have, want)} ({max(0, want - have)} uploaded now)")
EOF

size=$(curl -sf -o /dev/null -w '%{size_download}' "$index")
etag=$(curl -sfI "$index" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
echo "index.yaml: $size bytes, ETag $etag"
printf 'single fetches (s):'
for _ in 1 2 3 4 5; do printf ' %s' "$(curl -sf -o /dev/null -w '%{time_total}' "$index")"; done
echo
for c in 1 8; do
  "$regbench" get -url "$index" -n 200 -c "$c" -q | C=$c python3 -c '
import json, os, sys
r = json.load(sys.stdin)
print("GET -c %s: %.1f req/s, p50 %.1f ms, p99 %.1f ms, %d errors"
      % (os.environ["C"], r["req_s"], r["p50_ms"], r["p99_ms"], r["errors"]))'
done
printf 'If-None-Match (s):'
for _ in 1 2 3 4 5; do
  printf ' %s' "$(curl -s -o /dev/null -w '%{http_code}:%{time_total}' -H "If-None-Match: $etag" "$index")"
done
echo
