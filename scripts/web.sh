#!/usr/bin/env bash
# Fetch the dashboard's chart library (uPlot, pinned in
# dashboard/web/package-lock.json) with npm ci and copy its dist files into
# dashboard/web/static/vendor, which go:embed takes into sluiced. The copies
# are not committed. When they are there and match the lock, nothing runs.
# Without npm the build still works: the pages say the charts are missing.
set -euo pipefail
cd "$(dirname "$0")/../dashboard/web"

vendor=static/vendor
files=(uPlot.iife.min.js uPlot.min.css)
stamp=$vendor/.lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)

if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
	ok=1
	for f in "${files[@]}"; do [[ -f $vendor/$f ]] || ok=0; done
	[[ $ok == 1 ]] && exit 0
fi

if ! command -v npm >/dev/null; then
	echo "web: npm not found; the dashboard is built without its charts" >&2
	exit 0
fi
echo "web: npm ci (uPlot for the dashboard's charts)" >&2
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
for f in "${files[@]}"; do
	cp "node_modules/uplot/dist/$f" "$vendor/$f"
done
echo "$want" > "$stamp"
