#!/usr/bin/env bash
# Regenerate the store's query code (store/sqlc) from store/migrations/*.up.sql
# and store/queries/*.sql, as store/sqlc.yaml says.
#
# sqlc runs at a pinned version from the Go module proxy. Its PostgreSQL
# parser (pg_query_go) is C, so it needs cgo and a C compiler; the first
# build takes minutes, later runs come from Go's build cache.
set -euo pipefail
cd "$(dirname "$0")/.."

SQLC_VERSION=v1.29.0

cd store
CGO_ENABLED=1 go run "github.com/sqlc-dev/sqlc/cmd/sqlc@$SQLC_VERSION" generate
