#!/usr/bin/env bash
# A throw-away S3 server for the tests: a one-node Ceph cluster (a monitor, one OSD, the RADOS Gateway) in DIR, on
# loopback, without cephx. Debian's ceph-mon, ceph-osd and radosgw (16.x); scripts/install-test-tools.sh installs them.
#
#   scripts/s3-server.sh start DIR [S3_PORT]   prints the endpoint; the access and secret keys are S3_ACCESS_KEY and
#                                              S3_SECRET_KEY (defaults below), for any region, path-style
#   scripts/s3-server.sh stop DIR              stops what start started there (by the pids it wrote)
#   scripts/s3-server.sh stop-gateway DIR      stops only the gateway: an S3 outage, the stored objects kept
#   scripts/s3-server.sh start-gateway DIR     starts it again, on the same port
set -euo pipefail
usage="usage: $0 start|stop|stop-gateway|start-gateway DIR [S3_PORT]"
command=${1:?$usage}
dir=${2:?$usage}

# Stops one daemon by its pid file: TERM, up to 10 s, then KILL.
stop_daemon() {
  local file="$dir/run/$1.pid" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  rm -f "$file"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" = Z ] && return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

if [ "$command" = stop ]; then
  # The gateway first (it waits minutes for a missing OSD), then the OSD, then the monitor.
  stop_daemon client.rgw.s3
  stop_daemon osd.0
  stop_daemon mon.a
  exit 0
fi
if [ "$command" = stop-gateway ]; then
  stop_daemon client.rgw.s3
  exit 0
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
s3_port=${3:-$(free_port)}
mon_port=$(free_port)
retry() { # TRIES COMMAND...: until it succeeds, 0.25 s apart
  local tries=$1
  shift
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "s3-server.sh: gave up waiting for: $*; logs in $dir/log" >&2
  exit 1
}

if [ "$command" = start-gateway ]; then
  radosgw -c "$dir/ceph.conf" -n client.rgw.s3
  s3_port=$(sed -n 's/^rgw frontends = beast endpoint=127.0.0.1:\([0-9]*\)$/\1/p' "$dir/ceph.conf")
  retry 480 curl -sf -o /dev/null "http://127.0.0.1:$s3_port/"
  exit 0
fi
[ "$command" = start ] || { echo "$usage" >&2; exit 2; }

mkdir -p "$dir"/{mon,osd/0,run,log,rgw}
trap 'echo "s3-server.sh: line $LINENO failed: $BASH_COMMAND" >&2; "$0" stop "$dir"' ERR  # leave nothing running
fsid=$(cat /proc/sys/kernel/random/uuid)
# One copy of everything, small placement groups, no authentication, everything under DIR. memstore keeps the OSD's
# objects in memory, allocated as written: the fastest start, and nothing to clean on disk. Its cap is 8 GiB, as the
# test command writes several GiB it never deletes, and a full OSD blocks writes rather than refusing them;
# S3_MEMSTORE_BYTES sets another (Benchmarks/cluster-compare.sh writes more).
cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
public addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = $dir/keyring
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
[mon]
mon data = $dir/mon/\$id
mon cluster log file = $dir/log/cluster.log
[osd]
osd data = $dir/osd/\$id
osd objectstore = memstore
memstore device bytes = ${S3_MEMSTORE_BYTES:-8589934592}
osd op num shards = 1
osd crush update on start = false
osd class update on start = false
[client.rgw.s3]
rgw frontends = beast endpoint=127.0.0.1:$s3_port
rgw data = $dir/rgw
EOF
: >"$dir/keyring"
conf=(-c "$dir/ceph.conf")

monmaptool --create --addv a "[v1:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" >/dev/null
ceph-mon "${conf[@]}" --mkfs -i a --monmap "$dir/monmap"
ceph-mon "${conf[@]}" -i a
retry 120 ceph "${conf[@]}" mon stat --connect-timeout 2

osd_uuid=$(cat /proc/sys/kernel/random/uuid)
osd=$(ceph "${conf[@]}" osd new "$osd_uuid")
ceph-osd "${conf[@]}" -i "$osd" --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/osd-mkfs.log" 2>&1
ceph "${conf[@]}" osd crush add "osd.$osd" 1.0 host=localhost root=default >/dev/null 2>&1
# ceph-osd sometimes exits at once on its first start (a race with the monitor over the new OSD): try again.
for try in 1 2 3 4 5; do
  ceph-osd "${conf[@]}" -i "$osd" 2>>"$dir/log/osd-start.log" && break
  [ "$try" = 5 ] && { echo "s3-server.sh: ceph-osd would not start; logs in $dir/log" >&2; exit 1; }
  sleep 1
done
retry 240 bash -c "ceph -c '$dir/ceph.conf' osd stat | grep -q '1 up'"

radosgw "${conf[@]}" -n client.rgw.s3
retry 480 curl -sf -o /dev/null "http://127.0.0.1:$s3_port/"
radosgw-admin "${conf[@]}" user create --uid=wharf --display-name=wharf \
  --access-key="${S3_ACCESS_KEY:-WHARFTESTACCESS}" --secret-key="${S3_SECRET_KEY:-wharf-test-secret-key-0123456789}" >/dev/null
echo "http://127.0.0.1:$s3_port"
