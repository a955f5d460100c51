#!/usr/bin/env bash
# Installs the Debian packages a profile needs, and only those that are missing.
#   build: compiler, cmake, and the libraries eddy builds on: OpenSSL (crypto), zlib, liburing
#   test:  build + what the test suite drives (curl, wrk, python3, clang's sanitizer/fuzzer runtimes)
#   bench: test + the peers and the load generator (libuv, nginx, wrk, Node.js)
# Node.js is taken from the machine when `node` is already on PATH (any version >= 18).
set -euo pipefail
profile=${1:-test}

pkgs=(build-essential cmake pkg-config libssl-dev zlib1g-dev liburing-dev)
case "$profile" in
build) ;;
test) pkgs+=(clang libclang-rt-14-dev curl python3 procps wrk) ;;
bench) pkgs+=(clang libclang-rt-14-dev curl python3 procps libuv1-dev nginx-light wrk) ;;
*) echo "install-deps: unknown profile '$profile' (build|test|bench)" >&2; exit 2 ;;
esac
if [ "$profile" != build ] && ! command -v node >/dev/null 2>&1; then pkgs+=(nodejs); fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
