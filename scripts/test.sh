#!/usr/bin/env bash
# The whole test suite: installs the clients and servers it needs, checks formatting, starts an S3 server (Ceph RGW,
# stopped on exit), runs the Swift unit and HTTP tests, then the end-to-end tests with skopeo, podman, buildah, helm
# and oras against a live `wharf serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-tools.sh

echo "== swift format lint"
swift format lint --strict -r Sources Tests Package.swift

echo "== swift build"
swift build --build-tests

echo "== S3 server (Ceph RGW) for the S3 tests"
s3_dir=$(mktemp -d)
trap 'scripts/s3-server.sh stop "$s3_dir"; rm -rf "$s3_dir"' EXIT
WHARF_TEST_S3=$(scripts/s3-server.sh start "$s3_dir")
export WHARF_TEST_S3

echo "== swift test"
timeout 1200 swift test --skip-build  # a deadlock fails the run instead of hanging it

echo "== end-to-end tests"
WHARF_BIN="$(swift build --show-bin-path)/wharf" python3 -m pytest -q -p no:cacheprovider Tests/E2E

echo "== end-to-end client tests on the S3 blob store"
WHARF_E2E_STORAGE=s3 WHARF_BIN="$(swift build --show-bin-path)/wharf" python3 -m pytest -q -p no:cacheprovider \
  Tests/E2E/test_skopeo.py Tests/E2E/test_podman_buildah.py Tests/E2E/test_oras.py Tests/E2E/test_helm.py \
  Tests/E2E/test_helm_repo.py Tests/E2E/test_faults.py
