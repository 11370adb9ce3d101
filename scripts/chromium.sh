#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the dashboard's browser test
# (itest/dashboard_test.go drives it headless with chromedp), installing it
# with apt-get when missing.
set -euo pipefail

if command -v chromium >/dev/null; then
	exit 0
fi
echo "chromium: installing Debian's chromium for the browser test" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
