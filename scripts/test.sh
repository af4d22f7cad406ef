#!/usr/bin/env bash
# The whole test suite: installs the clients and servers it needs, checks formatting, starts an S3 server (Ceph RGW)
# and PostgreSQL (stopped on exit), runs the Swift unit and HTTP tests (on SQLite, then on PostgreSQL), then the
# end-to-end tests with skopeo, podman, buildah, helm and oras against a live `wharf serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-tools.sh

echo "== swift format lint"
swift format lint --strict -r Sources Tests Package.swift

echo "== swift build"
swift build --build-tests

echo "== S3 server (Ceph RGW) and PostgreSQL for the S3 and PostgreSQL tests"
s3_dir=$(mktemp -d)
pg_dir=$(mktemp -d)
trap 'scripts/s3-server.sh stop "$s3_dir"; scripts/pg-server.sh stop "$pg_dir"; rm -rf "$s3_dir" "$pg_dir"' EXIT
WHARF_TEST_S3=$(scripts/s3-server.sh start "$s3_dir")
WHARF_TEST_POSTGRES=$(scripts/pg-server.sh start "$pg_dir")
export WHARF_TEST_S3 WHARF_TEST_POSTGRES

echo "== swift test"
timeout 1200 swift test --skip-build  # a deadlock fails the run instead of hanging it

echo "== swift test, metadata on PostgreSQL"
WHARF_TEST_METADATA=postgres timeout 1200 swift test --skip-build

echo "== end-to-end tests"
WHARF_BIN="$(swift build --show-bin-path)/wharf" python3 -m pytest -q -p no:cacheprovider Tests/E2E

echo "== end-to-end client and HTTP API tests on a cluster: three instances on S3 and PostgreSQL behind nginx"
WHARF_E2E_CLUSTER=3 WHARF_BIN="$(swift build --show-bin-path)/wharf" python3 -m pytest -q -p no:cacheprovider \
  Tests/E2E/test_skopeo.py Tests/E2E/test_podman_buildah.py Tests/E2E/test_oras.py Tests/E2E/test_helm.py \
  Tests/E2E/test_helm_repo.py Tests/E2E/test_faults.py \
  Tests/E2E/test_hardening.py Tests/E2E/test_helm_chartmuseum.py Tests/E2E/test_gc.py Tests/E2E/test_audit.py \
  Tests/E2E/test_fuzz_distribution.py
