# Sluice's make targets. `make test` is everything CI runs; `make run` is the
# main job on the local default (SQLite and a local regtest network).

GO ?= go
PKG := github.com/sluice-ln/sluice
BIN := $(CURDIR)/bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Every target builds, tests, lints, benches and runs with TAGS. With
# libsecp256k1, sluiced verifies usage signatures with Bitcoin Core's
# libsecp256k1 through cgo, about four times faster than btcec (metering's
# BenchmarkVerify; docs/operations.md "Building"); the libsecp256k1 target
# installs Debian's libsecp256k1-dev when missing. `make build TAGS=` builds
# pure Go on btcec, as a plain `go build ./...` does.
TAGS := libsecp256k1

# gotags is the -tags flag of TAGS and the tags given ($(call gotags,itest)).
comma := ,
empty :=
space := $(empty) $(empty)
gotags = -tags '$(subst $(space),$(comma),$(strip $(1) $(TAGS)))'

# The Postgres half of the store suite runs against this DSN. scripts/postgres.sh
# makes sure a server answers there (installing one from Debian if needed).
SLUICE_TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export SLUICE_TEST_POSTGRES

# Integration tests: one case alone with `make itest case=Name`.
case ?=
ITEST_RUN := $(if $(case),-run '^$(case)$$',)

.PHONY: build test unit itest bench fuzz lint fmt rpc rpc-check sqlc sqlc-check run demo sluiced devnet-up devnet-down postgres bubblewrap web chromium libsecp256k1

build: web libsecp256k1
	$(GO) build $(call gotags) -o $(BIN)/ ./cmd/...

test: lint postgres unit itest

unit: web libsecp256k1 postgres bubblewrap
	$(GO) test $(call gotags) -count=1 ./...

# Every case brings up its own network of real daemons, so packages run one
# at a time (-p 1): two cores do not carry several networks at once. The
# pinned daemons are built into the cache on first use (about 7 minutes).
# The dashboard's browser test drives Debian's chromium (scripts/chromium.sh
# installs it when missing). The harness builds sluiced, sluice and
# sluice-agent with the test binary's TAGS (itest/buildtags_*_test.go).
itest: build libsecp256k1 chromium
	$(GO) test -count=1 -p 1 $(call gotags,itest) -timeout 60m -v $(ITEST_RUN) ./devnet/... ./itest/...

# bench: metering's ingest (batches of 10, then of 60: the agent's default),
# the API's SubmitUsage, then on the local network
# the keysend baseline (BenchmarkKeysendBaseline) and Sluice's payouts to
# 1, 4 and 8 providers, fed by agents submitting signed usage over the API,
# beside raw keysend to the same providers in the same run, with sluiced's
# CPU, store statements and scheduler reads per payout (BenchmarkPayouts;
# SLUICE_BENCH_PROVIDERS=N for fewer providers), the serving agent's own
# CPU and memory at 0, 1, 2 and 4 jobs (BenchmarkServeAgent), and sluiced on
# a simulated hub with 100 providers / 1,000 jobs and 1,000 / 10,000, its
# keysends taking latencies measured on the devnet first (BenchmarkScale,
# about 10 minutes; docs/operations.md "Scale").
bench: build libsecp256k1 postgres
	$(GO) test $(call gotags) -run '^$$' -bench BenchmarkIngest -benchtime 1x -timeout 30m ./metering/
	$(GO) test $(call gotags) -run '^$$' -bench BenchmarkIngest -benchtime 1x -timeout 30m ./metering/ -args -ingest.batch 60
	$(GO) test $(call gotags) -run '^$$' -bench BenchmarkSubmitUsage -benchtime 1x -timeout 30m ./rpc/
	$(GO) test $(call gotags,itest) -run '^$$' -bench . -benchtime 1x -timeout 60m ./itest/...

# Every native fuzz test, each for FUZZTIME. go test fuzzes one target of one
# package at a time.
FUZZTIME ?= 30s
FUZZ_TARGETS := \
	ledger:FuzzValidateTransaction ledger:FuzzParseMilliSatoshi ledger:FuzzParseShares ledger:FuzzParseRate \
	metering:FuzzDecodeBatch metering:FuzzValidateBatch \
	channels:FuzzRecoverNodeKey channels:FuzzParseChallengeMessage channels:FuzzParseRateValue \
	settlement:FuzzCheckRefundInvoice rpc:FuzzVerifyMacaroon \
	agent/sandbox:FuzzWorkloadValidate \
	yield:FuzzMulDiv yield:FuzzVerify

fuzz: libsecp256k1
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "fuzz $$fn in ./$$pkg/ for $(FUZZTIME)"; \
		$(GO) test $(call gotags) -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg/; \
	done

# The itest-tagged files are linted too, so a broken integration test shows
# before the networks are started. So is the pure-Go build without TAGS
# (vet everywhere; staticcheck where files differ by tag), which a plain
# `go build ./...` makes.
lint: web libsecp256k1
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then \
		echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(call gotags) ./...
	$(GO) vet $(call gotags,itest) ./devnet/... ./itest/...
	$(GO) vet ./...
	$(GO) vet -tags itest ./devnet/... ./itest/...
	$(GO) run $(STATICCHECK) $(call gotags) ./...
	$(GO) run $(STATICCHECK) $(call gotags,itest) ./devnet/... ./itest/...
	$(GO) run $(STATICCHECK) ./metering/... ./cmd/sluiced/
	$(GO) run $(STATICCHECK) -tags itest ./itest/...

fmt:
	gofmt -s -w $$(git ls-files '*.go' | grep -v '^devnet/tools/')

postgres:
	@scripts/postgres.sh

# Bitcoin Core's libsecp256k1 for the libsecp256k1 tag (scripts/libsecp256k1.sh
# installs Debian's libsecp256k1-dev when missing); nothing without the tag.
libsecp256k1:
	@$(if $(filter libsecp256k1,$(TAGS)),scripts/libsecp256k1.sh,true)

# The dashboard's chart library (uPlot) from npm, copied where go:embed
# takes it; everything that compiles depends on it. A plain `go build`
# without it still compiles: the pages then say the charts are missing.
web:
	@scripts/web.sh

chromium:
	@scripts/chromium.sh

# The agent's workload sandbox (agent/sandbox) runs on bubblewrap; its tests
# run real sandboxes.
bubblewrap:
	@scripts/bubblewrap.sh

rpc:
	scripts/genrpc.sh

rpc-check: rpc
	git diff --exit-code -- rpc/

sqlc:
	scripts/gensqlc.sh

sqlc-check: sqlc
	git diff --exit-code -- store/sqlc/
	@test -z "$$(git status --porcelain -- store/sqlc/)" || \
		{ echo "store/sqlc has files git does not know"; exit 1; }

# run is the main job, the whole story: the local network (brought up unless
# it already runs in .devnet), sluiced on its hub with SQLite, provider1
# linked, a buyer's job funded by the buyer node, a minute of metered CPU
# work paid out to provider1 every second, the refund, and the books
# balanced and reconciled with lnd. sluiced is stopped at the end; the
# network keeps running until `make devnet-down`. work=10s shortens it.
work ?= 1m
run: build
	$(BIN)/sluice devnet demo --work $(work)

demo: run

# sluiced runs sluiced on the local network in the foreground (Ctrl-C stops
# it), with the data the story left.
sluiced: build
	$(BIN)/sluice devnet run-sluiced

devnet-up: build
	$(BIN)/sluice devnet up

devnet-down: build
	$(BIN)/sluice devnet down
