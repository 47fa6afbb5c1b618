# proxmox-terminate — see README.md.
GO        ?= go
BIN       := bin
TEMPORAL  := $(BIN)/temporal
TEST_TIMEOUT ?= 40m

.PHONY: all build test vet fmt-check demo bench chaos clean tools

all: build

$(TEMPORAL): tools.mod tools.sum
	@mkdir -p $(BIN)
	@echo "building the pinned temporal CLI v1.5.1 (first time: ~5 minutes, cached after)"
	$(GO) build -modfile=tools.mod -o $(TEMPORAL) github.com/temporalio/cli/cmd/temporal

tools: $(TEMPORAL)

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./worker ./starter ./cmd/pvesim ./demo

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Unit, activity and integration tests: the real Temporal dev server, MariaDB
# (127.0.0.1:3306, root, or $$TEST_MYSQL_DSN), PowerDNS (pdns_server) and the
# Proxmox simulator. Nothing is skipped: a missing service fails the run.
test: $(TEMPORAL) fmt-check vet
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# The main job end to end on embedded defaults.
demo: $(TEMPORAL)
	$(GO) run ./demo --temporal $(CURDIR)/$(TEMPORAL)

# Chaos: N terminations with random faults, worker SIGKILLs and one dev-server
# restart; prints one JSON line of invariants and fails on any violation.
CHAOS_N ?= 40
CHAOS_FLAGS ?=
chaos: $(TEMPORAL)
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) $(GO) run ./chaos/cmd/chaos -n $(CHAOS_N) $(CHAOS_FLAGS)

# Benchmarks: the hot pure functions, then the end-to-end run (bench/README.md;
# ~8 minutes; BENCH_FLAGS=-quick for a CI-sized run). Writes bench/results/latest.json.
BENCH_FLAGS ?=
bench: $(TEMPORAL)
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) $(GO) test -run '^$$' -bench . -benchmem ./...
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) $(GO) run ./bench/cmd/bench $(BENCH_FLAGS)

clean:
	rm -rf $(BIN) .demo
