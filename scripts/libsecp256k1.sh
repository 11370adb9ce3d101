#!/usr/bin/env bash
# Make sure Bitcoin Core's libsecp256k1 (Debian's libsecp256k1-dev, 0.2.0 or
# newer, with the extrakeys and schnorrsig modules) and a C compiler are
# installed, installing Debian's packages only when missing: the make
# targets build with the libsecp256k1 tag, so sluiced verifies usage
# signatures with it through cgo (metering/schnorr_libsecp256k1.go).
set -euo pipefail

pkgs=()
dpkg -s libsecp256k1-dev >/dev/null 2>&1 || pkgs+=(libsecp256k1-dev)
command -v gcc >/dev/null || command -v cc >/dev/null || pkgs+=(gcc libc6-dev)
[[ ${#pkgs[@]} == 0 ]] && exit 0

echo "libsecp256k1: installing ${pkgs[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${pkgs[@]}" >/dev/null
dpkg -s libsecp256k1-dev >/dev/null 2>&1
