#!/usr/bin/env bash
# Installs the Debian packages tailsafe needs to build, test and demo, and nothing else.
# Idempotent: a machine that has them all is left alone (no apt-get call at all).
set -euo pipefail

packages=(
  g++ make pkg-config
  libuv1-dev libxxhash-dev libzstd-dev libsqlite3-dev libboost-test-dev
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libsodium-dev libsystemd-dev
  libmicrohttpd-dev         # HTTP on the daemons' loops: /metrics, the coordinator's status page
  procps coreutils python3
  clang libclang-rt-14-dev llvm  # the libFuzzer targets (make fuzz) and their symbolised reports
  goaccess gnuplot-nox      # the weblog demo: goaccess as a hook (tests), the requests-per-minute chart
  mandoc man-db debhelper lintian rpm  # man page lint, make deb (and its lintian), make rpm, the package test
  iproute2 nftables         # the fault suite (make faults): hosts as network namespaces, partitions
  libzookeeper-st-dev       # the coordinator's ZooKeeper store (single-threaded C client; conflicts with -mt-dev)
  zookeeper                 # the tests' ensembles: QuorumPeerMain on Debian's jars (and a Java runtime)
  openjdk-17-jdk-headless maven  # storm/: the tailsafe-storm module (its jars come from Maven Central)
  postgresql libpq-dev      # the weblog results on PostgreSQL: libpq for the programs, the server the tests start
  chromium chromium-driver  # the status page's browser test (headless, driven over WebDriver)
)
# Extra tools for benchmarks (bench/): only with DEPS_BENCH=1.
if [[ "${DEPS_BENCH:-0}" == 1 ]]; then
  packages+=(lsyncd rsync netcat-openbsd zstd)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) != 0 ]]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run 'make deps' as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
