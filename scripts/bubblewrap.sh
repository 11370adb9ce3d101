#!/usr/bin/env bash
# Make sure bubblewrap (bwrap), which the agent's workload sandbox runs on,
# is installed, installing Debian's package only when it is missing. setpriv
# comes with util-linux, in every Debian system.
set -euo pipefail

command -v bwrap >/dev/null && exit 0

echo "bubblewrap: installing bubblewrap from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq bubblewrap >/dev/null
command -v bwrap >/dev/null
