# MinIODB. The two commands a new user needs: `make run` and `make test`.
GO ?= go
BIN ?= bin/miniodb
# Tests of the S3 path run against a real MinIO server, built once (pinned)
# into the tools cache by scripts/install-minio.sh.
MINIO = $$(scripts/install-minio.sh)
# The PostgreSQL protocol's tests run the real psql (Debian's client).
PSQL = $$(scripts/install-psql.sh)

.PHONY: run build test test-short verify generate lint bench jepsen jepsen-short clean-data

run: ## run one node on the embedded default (./data, local object store)
	$(GO) run ./cmd/miniodb serve

build: ## build bin/miniodb
	$(GO) build -o $(BIN) ./cmd/miniodb

test: ## the full default test suite (CI runs this): every package under the race detector, then a short Jepsen run
	MINIODB_MINIO_BIN=$(MINIO) MINIODB_PSQL_BIN=$(PSQL) $(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) jepsen-short

test-short: ## unit tests only, no MinIO
	$(GO) test -count=1 -short ./...

generate: ## regenerate proto/miniodb/v1 (buf + protoc-gen-go + protoc-gen-connect-go, pinned)
	cd proto && PATH="$$(../scripts/install-tools.sh):$$PATH" buf lint && PATH="$$(../scripts/install-tools.sh):$$PATH" buf generate

verify: ## checks besides tests (CI runs them first): gofmt, go vet, staticcheck (pinned), go mod tidy and generated code leave no diff
	scripts/verify.sh

lint: verify

bench: ## benchmarks: wal, parquet, ingest parsing, merges vs DuckDB COPY, whole-node ingest/query, the small-files case vs raw DuckDB, hot rows after ingest, Q1–Q6 on 1 and 3 nodes, scaling on pinned cores, backups
	$(GO) test -run '^$$' -bench . -benchtime 3x ./wal/ ./parquetio/ ./ingest/
	MINIODB_MERGE_BENCH=1 $(GO) test -count=1 -run '^TestMergeBench$$' -v ./compaction/
	$(GO) run ./cmd/miniodb bench
	$(GO) run ./cmd/miniodb bench --rows 2000000 --small-files 1000 --days 1
	$(GO) run ./cmd/miniodb bench --rows 2000000 --hot
	$(GO) run ./cmd/miniodb bench --rows 10000000 --days 30 --flush-rounds 4
	$(GO) run ./cmd/miniodb bench --rows 10000000 --days 30 --flush-rounds 4 --nodes 3
	$(GO) run ./cmd/miniodb bench --rows 10000000 --days 30 --flush-rounds 4 --scale
	$(GO) test -run '^$$' -bench BenchmarkHotRows -benchtime 5x ./query/
	$(GO) run ./cmd/miniodb bench --rows 10000000 --backup 100 --days 1

clean-data: ## remove ./data (the embedded default's state)
	rm -rf data

jepsen: ## the Jepsen-style fault-injection matrix (every nemesis, 3 and 5 nodes; ~30 min; JEPSEN_DURATION per run)
	cd jepsen && MINIODB_MINIO_BIN=$$(../scripts/install-minio.sh) JEPSEN_MATRIX=1 $(GO) test -count=1 -timeout 120m -run 'TestMatrix|TestUnsafe' -v ./...

jepsen-short: ## the harness's unit tests plus the quick runs: leader crash mid-flush and a partition, the garbage collector under power loss, single-row writers under kills, and the unsafe-mode check (~3 min)
	cd jepsen && MINIODB_MINIO_BIN=$$(../scripts/install-minio.sh) $(GO) test -count=1 -timeout 20m -v ./...
