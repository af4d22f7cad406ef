#!/usr/bin/env bash
# cluster-compare.sh [WHARF_BIN]
#
# The scale-out benchmark: the standard regbench suite (../shared/tools/bench/compare.sh: push, pull, manifest
# PUT and GET, docker-pull sequences, tags) through nginx, against
#   d1  Distribution 2.8.2 (Debian's docker-registry, its `s3` driver with `regionendpoint`) vs Wharf x1
#   13  Wharf x1 vs Wharf x3 (three `wharf serve` instances, one S3 bucket and one PostgreSQL database)
#   d3  Distribution vs Wharf x3 (not run by default)
# Each comparison ("pair") gets a fresh S3 server (Ceph RGW, scripts/s3-server.sh) and PostgreSQL
# (scripts/pg-server.sh) in temporary folders, shared by its two sides: each side has its own bucket (and, for
# Wharf, its own database) and its own nginx; both sides run for the whole pair, compare.sh measuring one at a time,
# alternately. RGW keeps objects in memory (memstore), and a suite writes about 2.1 GiB per side and round, so a
# pair's RGW is stopped, with its data, before the next pair starts; the memstore's cap is sized from ROUNDS.
#
# Server CPU: compare.sh's `server CPU %` rows are the sum over a side's registry processes (the three instances
# for Wharf x3), through Benchmarks/stack-cpu.py as its regbench; the report after each pair adds CPU milliseconds
# per request for the registry (`server`), nginx, RGW (`s3`: radosgw, ceph-osd, ceph-mon) and PostgreSQL (`pg`).
# Between suites RGW's garbage collection runs (`radosgw-admin gc process --include-all`), untimed, so deleted
# upload objects free memory and no side's garbage is collected while the other is measured.
#
# Setups, alike on both sides: nginx (worker_processes NGINX_WORKERS, default 2; keep-alive to the upstreams,
# round robin, no request or response buffering, no access log) in front of the registries; registries log at
# warning level. Wharf runs with its defaults (at-rest encryption and the audit log on) plus blobs in S3
# (WHARF_S3_*, prefix registry/), metadata in PostgreSQL (`wharf migrate` first) and one master key
# (WHARF_ENCRYPTION_KEY) for all instances; other WHARF_* variables in the environment reach every instance (e.g.
# WHARF_ENCRYPTION=off). Distribution: blob descriptor cache in memory, deletes enabled, upload purging off and
# `storage.redirect.disable: true` (its default answers blob GETs with a redirect to RGW, which Wharf does only with
# storage.redirect), S3 chunk size its default.
#
# Env:
#   WHARF_BIN=PATH   the wharf binary (or the first argument); default: `swift build -c release --product wharf`,
#                    then its bin path (SKIP_BUILD=1: use the release binary already built)
#   PAIRS="d1 13"    which comparisons, in order (d1, 13, d3)
#   ROUNDS=2         compare.sh rounds per pair (use an even number: the order swaps each round)
#   QUICK=1          compare.sh's small smoke-test suite
#   NGINX_WORKERS=2  nginx worker processes per setup
#   RESULTS=DIR      where the JSON results, tables and logs go (default /tmp/wharf-cluster-bench-<time>)
#   KEEP=1           keep the temporary folders (RGW, PostgreSQL, data dirs) after the run
#   S3_MEMSTORE_BYTES  the RGW memstore cap (default ROUNDS x 5 GiB + 2 GiB; 4 GiB with QUICK=1)
#   QUIET_WAIT, QUIET_MAX, REGBENCH  as for compare.sh (REGBENCH: the real regbench)
# Needs: scripts/install-test-tools.sh (RGW, PostgreSQL, nginx, docker-registry, boto3) and Go for regbench
# (apt-get install golang-go). Run as root (PostgreSQL runs as `postgres`; nginx workers as root). A default
# run (two pairs, ROUNDS=2) takes about 15 minutes; its RGW holds up to ~10 GiB of memory.
#
#   Benchmarks/cluster-compare.sh                                    # release build, both pairs
#   QUICK=1 ROUNDS=2 Benchmarks/cluster-compare.sh /tmp/wharf-debug-bin  # smoke test, about 6 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BENCH=$(cd "$ROOT/../shared/tools/bench" && pwd)

ROUNDS=${ROUNDS:-2}
PAIRS=${PAIRS:-d1 13}
NGINX_WORKERS=${NGINX_WORKERS:-2}
RESULTS=${RESULTS:-/tmp/wharf-cluster-bench-$(date +%Y%m%d-%H%M%S)}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-WHARFTESTACCESS}
S3_SECRET_KEY=${S3_SECRET_KEY:-wharf-test-secret-key-0123456789}
export S3_ACCESS_KEY S3_SECRET_KEY

WHARF_BIN=${1:-${WHARF_BIN:-}}
if [ -z "$WHARF_BIN" ]; then
  [ "${SKIP_BUILD:-0}" = 1 ] || swift build -c release --product wharf
  WHARF_BIN="$(swift build -c release --show-bin-path)/wharf"
fi
[ -x "$WHARF_BIN" ] || { echo "cluster-compare.sh: no wharf binary at $WHARF_BIN" >&2; exit 1; }
WHARF_BIN=$(realpath "$WHARF_BIN")
for tool in nginx docker-registry radosgw psql python3; do
  command -v "$tool" >/dev/null || { echo "cluster-compare.sh: $tool missing: scripts/install-test-tools.sh" >&2; exit 1; }
done
REGBENCH_REAL=${REGBENCH:-$("$BENCH/build.sh")}
NGINX=$(command -v nginx)
DISTRIBUTION=$(command -v docker-registry)

if [ -z "${S3_MEMSTORE_BYTES:-}" ]; then
  if [ "${QUICK:-0}" = 1 ]; then S3_MEMSTORE_BYTES=$((4 << 30)); else S3_MEMSTORE_BYTES=$(((ROUNDS * 5 + 2) << 30)); fi
fi
export S3_MEMSTORE_BYTES
available=$(($(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) << 10))
if [ "$S3_MEMSTORE_BYTES" -gt $((available - (3 << 30))) ]; then
  echo "cluster-compare.sh: RGW's memstore may grow to $((S3_MEMSTORE_BYTES >> 30)) GiB, and only" \
    "$((available >> 30)) GiB of memory is available (3 GiB kept free): fewer ROUNDS, or set S3_MEMSTORE_BYTES" >&2
  exit 1
fi

mkdir -p "$RESULTS"
RESULTS=$(realpath "$RESULTS")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wharf-cluster-bench.XXXXXX")
chmod 755 "$WORK" # PostgreSQL runs as `postgres` and must get through to its folder

# What is running, for the cleanup: registry and nginx pids; the RGW and PostgreSQL folders.
PIDS=()
S3_DIR=
PG_DIR=
stop_pid() { # PID: TERM, up to 10 s, then KILL
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" = Z ] && break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_pair() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
  if [ -n "$S3_DIR" ]; then "$ROOT/scripts/s3-server.sh" stop "$S3_DIR" || true; S3_DIR=; fi
  if [ -n "$PG_DIR" ]; then "$ROOT/scripts/pg-server.sh" stop "$PG_DIR" || true; PG_DIR=; fi
}
cleanup() {
  stop_pair
  if [ "${KEEP:-0}" = 1 ]; then echo "cluster-compare.sh: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # URL PID LOG: until URL answers 2xx, while PID lives
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null --noproxy '*' "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "cluster-compare.sh: exited; see $3" >&2; tail -n 20 "$3" >&2; exit 1; }
    sleep 0.1
  done
  echo "cluster-compare.sh: $1 did not answer in 30 s; see $3" >&2
  exit 1
}

# nginx NAME PORT BACKEND...: nginx in $WORK/NAME/lb on PORT, round robin over the backends (HOST:PORT); sets NGINX_PID
start_nginx() {
  local name=$1 port=$2 dir="$WORK/$1/lb" servers="" backend user=""
  shift 2
  for backend in "$@"; do servers+="        server $backend max_fails=1 fail_timeout=60s;"$'\n'; done
  [ "$(id -u)" = 0 ] && user="user root;"
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<EOF
$user
worker_processes $NGINX_WORKERS;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 100000;
    upstream registry {
$servers        keepalive 64;
        keepalive_requests 100000;
    }
    server {
        listen 127.0.0.1:$port;
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        location / {
            proxy_pass http://registry;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout non_idempotent;
        }
    }
}
EOF
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -g "daemon off;" 2>>"$dir/error.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_http "http://127.0.0.1:$port/v2/" "$NGINX_PID" "$dir/error.log"
}

# start_wharf NAME COUNT: COUNT instances on bucket NAME and database NAME, behind nginx; sets URL, SERVER_PIDS, NGINX_PID
start_wharf() {
  local name=$1 count=$2 n port dir backends=() env
  dir="$WORK/$name"
  mkdir -p "$dir"
  PGPASSWORD=wharf psql -qAt -v ON_ERROR_STOP=1 -d "${PG_URL%/*}/postgres" -c "CREATE DATABASE $name" >/dev/null
  env=(WHARF_STORAGE_DRIVER=s3 WHARF_S3_ENDPOINT="$S3_URL" WHARF_S3_BUCKET="$name" WHARF_S3_PREFIX=registry/
    WHARF_S3_ACCESS_KEY="$S3_ACCESS_KEY" WHARF_S3_SECRET_KEY="$S3_SECRET_KEY"
    WHARF_METADATA_DRIVER=postgres WHARF_POSTGRES_URL="${PG_URL%/*}/$name" WHARF_ENCRYPTION_KEY="$MASTER_KEY")
  (cd "$dir" && env "${env[@]}" "$WHARF_BIN" migrate --data-dir "$dir/migrate" >"$dir/migrate.log" 2>&1) ||
    { cat "$dir/migrate.log" >&2; exit 1; }
  SERVER_PIDS=()
  for n in $(seq 1 "$count"); do
    port=$(free_port)
    env "${env[@]}" "$WHARF_BIN" serve --listen "127.0.0.1:$port" --data-dir "$dir/node$n" --log-level warning \
      >"$dir/node$n.log" 2>&1 &
    SERVER_PIDS+=($!)
    PIDS+=($!)
    wait_http "http://127.0.0.1:$port/healthz" $! "$dir/node$n.log"
    backends+=("127.0.0.1:$port")
  done
  port=$(free_port)
  start_nginx "$name" "$port" "${backends[@]}"
  URL="http://127.0.0.1:$port"
}

# start_distribution NAME: docker-registry on bucket NAME, behind nginx; sets URL, SERVER_PIDS, NGINX_PID
start_distribution() {
  local name=$1 dir="$WORK/$1" port lb_port
  mkdir -p "$dir"
  python3 - "$S3_URL" "$name" <<'EOF'
import os, sys, boto3
from botocore.config import Config
boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=os.environ["S3_ACCESS_KEY"],
             aws_secret_access_key=os.environ["S3_SECRET_KEY"], region_name="us-east-1",
             config=Config(s3={"addressing_style": "path"})).create_bucket(Bucket=sys.argv[2])
EOF
  port=$(free_port)
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: true
storage:
  s3:
    accesskey: $S3_ACCESS_KEY
    secretkey: $S3_SECRET_KEY
    region: us-east-1
    regionendpoint: $S3_URL
    bucket: $name
    secure: false
    v4auth: true
    rootdirectory: /registry
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  redirect:
    disable: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: regbench-not-a-secret
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  # AWS_CA_BUNDLE (set in some environments) makes the AWS SDK of 2.8.2 panic at start; the endpoint is plain HTTP.
  env -u AWS_CA_BUNDLE "$DISTRIBUTION" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
  SERVER_PIDS=($!)
  PIDS+=($!)
  wait_http "http://127.0.0.1:$port/v2/" $! "$dir/registry.log"
  lb_port=$(free_port)
  start_nginx "$name" "$lb_port" "127.0.0.1:$port"
  URL="http://127.0.0.1:$lb_port"
}

# start_setup SIDE KIND: KIND is d (Distribution), 1 or 3 (Wharf instances); sets <SIDE>_URL, _PIDS, _NGINX, _TITLE
start_setup() {
  local side=$1 kind=$2 lower
  lower=$(echo "$side" | tr A-Z a-z) # bucket names are lower case
  case $kind in
    d) start_distribution "dist$lower"; title="Distribution 2.8.2 (s3 driver) behind nginx" ;;
    *) start_wharf "wharf${kind}$lower" "$kind"; title="Wharf x$kind behind nginx" ;;
  esac
  printf -v "${side}_URL" %s "$URL"
  printf -v "${side}_PIDS" %s "${SERVER_PIDS[*]}"
  printf -v "${side}_NGINX" %s "$NGINX_PID"
  printf -v "${side}_TITLE" %s "$title"
}

json_list() { python3 -c 'import json, sys; print(json.dumps([int(p) for p in sys.argv[1:]]))' "$@"; }

run_pair() { # PAIR: d1, 13 or d3
  local pair=$1 a=${1:0:1} b=${1:1:1} out
  echo
  echo "=== pair $pair: A = $(case $a in d) echo Distribution ;; *) echo "Wharf x$a" ;; esac)," \
    "B = Wharf x$b (ROUNDS=$ROUNDS${QUICK:+ QUICK=$QUICK})"
  S3_DIR="$WORK/s3-$pair"
  PG_DIR="$WORK/pg-$pair"
  mkdir -p "$PG_DIR"
  S3_URL=$("$ROOT/scripts/s3-server.sh" start "$S3_DIR")
  PG_URL=$("$ROOT/scripts/pg-server.sh" start "$PG_DIR")
  MASTER_KEY=$(head -c 32 /dev/urandom | base64)
  echo "RGW $S3_URL (memstore cap $((S3_MEMSTORE_BYTES >> 20)) MiB), PostgreSQL $PG_URL"
  start_setup A "$a"
  start_setup B "$b"
  echo "A: $A_URL  $A_TITLE, registry pids $A_PIDS, nginx $A_NGINX"
  echo "B: $B_URL  $B_TITLE, registry pids $B_PIDS, nginx $B_NGINX"

  local s3_pids pg_pid
  s3_pids=$(cat "$S3_DIR"/run/*.pid)
  pg_pid=$(head -n 1 "$PG_DIR/data/postmaster.pid")
  # shellcheck disable=SC2086
  cat >"$WORK/groups-$pair.json" <<EOF
{"A": {"server": $(json_list $A_PIDS), "nginx": [$A_NGINX], "s3": $(json_list $s3_pids), "pg": [$pg_pid]},
 "B": {"server": $(json_list $B_PIDS), "nginx": [$B_NGINX], "s3": $(json_list $s3_pids), "pg": [$pg_pid]}}
EOF
  out="$RESULTS/$pair.jsonl"
  STACK_CPU_GROUPS="$WORK/groups-$pair.json" REGBENCH_REAL="$REGBENCH_REAL" REGBENCH="$ROOT/Benchmarks/stack-cpu.py" \
    STACK_CPU_AFTER_SUITE="radosgw-admin -c '$S3_DIR/ceph.conf' gc process --include-all" \
    PID_A=${A_PIDS%% *} PID_B=${B_PIDS%% *} OUT="$out" ROUNDS=$ROUNDS \
    "$BENCH/compare.sh" "$A_URL" "$B_URL" | tee "$RESULTS/$pair.compare.txt"
  local targets=()
  case $pair in
    d1 | d3) targets=(--min 1) ;;
    13) targets=(--min manifests/get-tag=1.5) ;;
  esac
  echo
  "$ROOT/Benchmarks/stack-cpu.py" report "$out" --a "$A_TITLE" --b "$B_TITLE" "${targets[@]}" |
    tee "$RESULTS/$pair.cpu.txt"
  # What the pair left in RGW: each bucket's size, and the OSD's peak memory (memstore holds the objects).
  {
    radosgw-admin -c "$S3_DIR/ceph.conf" bucket stats 2>/dev/null | python3 -c '
import json, sys
for b in json.load(sys.stdin):
    main = b.get("usage", {}).get("rgw.main", {})
    print("bucket %s: %.2f GiB in %d objects" % (b["bucket"], main.get("size_actual", 0) / 2**30, main.get("num_objects", 0)))' || true
    echo "RGW OSD peak memory: $(awk '/^VmHWM:/ {printf "%.2f GiB", $2 / 2^20}' "/proc/$(cat "$S3_DIR/run/osd.0.pid")/status")"
  } | tee "$RESULTS/$pair.rgw.txt"
  local f
  for f in "$WORK"/*/node*.log "$WORK"/*/registry.log "$WORK"/*/lb/error.log; do # e.g. 13.wharf3B.node2.log
    [ -f "$f" ] && cp "$f" "$RESULTS/$pair.$(realpath --relative-to="$WORK" "$f" | sed 's#/lb/#.nginx-#; s#/#.#g')"
  done
  stop_pair
  rm -rf "$WORK"/{dist,wharf}* "$S3_DIR" "$PG_DIR"
}

echo "cluster-compare.sh: wharf $WHARF_BIN; results in $RESULTS"
for pair in $PAIRS; do
  case $pair in d1 | 13 | d3) run_pair "$pair" ;; *) echo "cluster-compare.sh: unknown pair $pair" >&2; exit 2 ;; esac
done
echo
echo "cluster-compare.sh: done; tables in $RESULTS/*.compare.txt and $RESULTS/*.cpu.txt"
