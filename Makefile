# proxmox-terminate — see README.md.
SHELL     := /bin/bash
.SHELLFLAGS := -o pipefail -ec
GO        ?= go
BIN       := bin
TEMPORAL  := $(BIN)/temporal
STATICCHECK := $(BIN)/staticcheck
# The pinned Temporal server v1.29.1 (tools.mod), its SQL tool and schemas.
TEMPORAL_SERVER := $(BIN)/temporal-server
TEMPORAL_SQL_TOOL := $(BIN)/temporal-sql-tool
TEMPORAL_SCHEMA := $(BIN)/temporal-schema
TEST_TIMEOUT ?= 40m
BINARIES  := ./worker ./starter ./cmd/pvesim ./cmd/demo

.PHONY: all build test check vet fmt-check tidy-check staticcheck demo bench chaos clean tools cluster-tools cluster cluster-down chaos-cluster test-cluster

all: build

# The pinned temporal CLI (tools.mod). The first build compiles ~1,300 packages,
# about 9 CPU-minutes; -v feeds the progress counter, later builds are cached.
$(TEMPORAL): tools.mod tools.sum
	@mkdir -p $(BIN)
	@total=$$($(GO) list -modfile=tools.mod -deps github.com/temporalio/cli/cmd/temporal | wc -l); \
	echo "building the pinned temporal CLI v1.5.1 into $(TEMPORAL): $$total packages, about 9 CPU-minutes the first time, cached after"; \
	$(GO) build -v -modfile=tools.mod -o $(TEMPORAL) github.com/temporalio/cli/cmd/temporal 2>&1 | \
	  awk -v total=$$total '/^[a-z0-9.-]+(\/[^ ]*)?$$/{n++; if (n%100==0) {printf "  temporal CLI: %d of at most %d packages compiled\n", n, total; fflush()}; next} {print}'
	@test -x $(TEMPORAL)

$(STATICCHECK): tools.mod tools.sum
	@mkdir -p $(BIN)
	$(GO) build -modfile=tools.mod -o $(STATICCHECK) honnef.co/go/tools/cmd/staticcheck

tools: $(TEMPORAL) $(STATICCHECK)

# The real server shares nearly all its packages with the CLI: once the CLI
# is built, these take about 15 seconds.
$(TEMPORAL_SERVER): tools.mod tools.sum $(TEMPORAL)
	$(GO) build -modfile=tools.mod -o $@ go.temporal.io/server/cmd/server

$(TEMPORAL_SQL_TOOL): tools.mod tools.sum $(TEMPORAL)
	$(GO) build -modfile=tools.mod -o $@ go.temporal.io/server/cmd/tools/sql

$(TEMPORAL_SCHEMA): tools.mod tools.sum
	@dir=$$($(GO) mod download -modfile=tools.mod -json go.temporal.io/server | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p'); \
	test -d "$$dir/schema/postgresql/v12" || { echo "no PostgreSQL schema in $$dir"; exit 1; }; \
	rm -rf $@ && mkdir -p $@ && cp -r "$$dir/schema/postgresql/v12/temporal" "$$dir/schema/postgresql/v12/visibility" $@ && chmod -R u+w $@

cluster-tools: $(TEMPORAL) $(TEMPORAL_SERVER) $(TEMPORAL_SQL_TOOL) $(TEMPORAL_SCHEMA)

# A real Temporal server on the local PostgreSQL (127.0.0.1:5432), frontend
# 127.0.0.1:7233: schemas, server, namespace and search attributes.
cluster: cluster-tools
	$(GO) build -o $(BIN)/cluster ./cmd/cluster
	$(BIN)/cluster up

cluster-down:
	$(GO) build -o $(BIN)/cluster ./cmd/cluster
	$(BIN)/cluster down

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(BINARIES)

# Hygiene: every one of these fails `make test` (and so CI).
check: fmt-check vet tidy-check staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

tidy-check:
	@if ! $(GO) mod tidy -diff >/tmp/tidy.$$$$.diff 2>&1; then echo "go.mod/go.sum are not tidy (run: go mod tidy):"; cat /tmp/tidy.$$$$.diff; rm -f /tmp/tidy.$$$$.diff; exit 1; fi; rm -f /tmp/tidy.$$$$.diff

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# Unit, activity and integration tests: the real Temporal dev server, MariaDB
# (127.0.0.1:3306, root, or $$TEST_MYSQL_DSN), PowerDNS (pdns_server) and the
# Proxmox simulator; test/cluster on the real server (PostgreSQL on
# 127.0.0.1:5432). Nothing is skipped: a missing service fails the run.
test: cluster-tools check
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# The starter's integration tests, the WHMCS hand-off and test/cluster on
# one real server, as `make cluster` runs it (port 7233 must be free), on
# databases of their own that are dropped afterwards, pass or fail.
CLUSTER_PKGS ?= ./starter ./deploy/whmcs ./test/cluster
test-cluster: cluster-tools
	$(GO) build -o $(BIN)/cluster ./cmd/cluster
	$(BIN)/cluster up --dir .cluster-test --database temporal_test_$$$$
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) TEST_TEMPORAL_ADDRESS=127.0.0.1:7233 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(CLUSTER_PKGS); \
	  rc=$$?; $(BIN)/cluster down --dir .cluster-test --drop; exit $$rc

# The main job end to end on embedded defaults. The built binary, not
# `go run`, so Ctrl-C and SIGTERM reach it and it stops everything it started.
demo: $(TEMPORAL)
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/demo ./cmd/demo
	exec $(BIN)/demo --temporal $(CURDIR)/$(TEMPORAL) $(DEMO_FLAGS)

# Chaos: N terminations with random faults, worker SIGKILLs and one dev-server
# restart; prints one JSON line of invariants and fails on any violation.
CHAOS_N ?= 40
CHAOS_FLAGS ?=
chaos: $(TEMPORAL)
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/chaos ./cmd/chaos
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) $(BIN)/chaos -n $(CHAOS_N) $(CHAOS_FLAGS)

# The chaos run on the real server (PostgreSQL), three worker processes.
chaos-cluster: cluster-tools
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/chaos ./cmd/chaos
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) $(BIN)/chaos -n $(CHAOS_N) -cluster -workers 3 $(CHAOS_FLAGS)

# Benchmarks: the Go benchmarks (hot pure functions, the click, adopt, the VM
# Management page), then the end-to-end run (test/bench/README.md; ~12 minutes;
# BENCH_FLAGS=-quick for a CI-sized run). Writes test/bench/results/latest.json.
# cluster-tools: go test ./... also compiles test/cluster, whose TestMain needs the server.
BENCH_FLAGS ?=
bench: cluster-tools
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) $(GO) test -run '^$$' -bench . -benchmem ./...
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) $(GO) run ./cmd/bench $(BENCH_FLAGS)

clean:
	rm -rf $(BIN) .demo .cluster .cluster-test
