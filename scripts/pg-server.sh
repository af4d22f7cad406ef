#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests, in DIR, on loopback, with a superuser `wharf` (password `wharf`) and
# a database `wharf`. Debian's postgresql; scripts/install-test-tools.sh installs it. As root, the server runs as the
# `postgres` user, which initdb requires: DIR's parent folders must let that user through.
#
#   scripts/pg-server.sh start DIR [PORT]   prints the URL, postgres://wharf:wharf@127.0.0.1:PORT/wharf; on a DIR
#                                           that was started before, starts that server again, with its data
#   scripts/pg-server.sh stop DIR           stops what start started there
set -euo pipefail
command=${1:?usage: $0 start|stop DIR [PORT]}
dir=${2:?usage: $0 start|stop DIR [PORT]}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "$command" = stop ]; then
  [ -f "$dir/data/postmaster.pid" ] || exit 0
  as_owner "$bin/pg_ctl" stop -D "$dir/data" -m fast -w >/dev/null
  exit 0
fi
[ "$command" = start ] || { echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2; }

restart=false
[ -f "$dir/data/PG_VERSION" ] && restart=true
if $restart; then
  port=$(cat "$dir/port")
else
  port=${3:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  mkdir -p "$dir/run"
  echo wharf >"$dir/password"
  echo "$port" >"$dir/port"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U wharf --pwfile="$dir/password" --auth=scram-sha-256 -E UTF8 \
    --locale=C.UTF-8 >"$dir/initdb.log"
fi
# No fsync: the server is thrown away with its data, and the tests never cut its power. 1000 connections: a test process
# keeps the registries it opened, each with its pool and lock connection, until it ends.
as_owner "$bin/pg_ctl" start -D "$dir/data" -w -l "$dir/server.log" \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/run -c fsync=off -c full_page_writes=off -c max_connections=1000" \
  >/dev/null
$restart || PGPASSWORD=wharf "$bin/psql" -q -h 127.0.0.1 -p "$port" -U wharf -d postgres -c 'CREATE DATABASE wharf' >/dev/null
echo "postgres://wharf:wharf@127.0.0.1:$port/wharf"
