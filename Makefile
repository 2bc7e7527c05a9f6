# MinIODB. The two commands a new user needs: `make run` and `make test`.
GO ?= go
BIN ?= bin/miniodb
# Tests of the S3 path run against a real MinIO server, built once (pinned)
# into the tools cache by scripts/install-minio.sh.
MINIO = $$(scripts/install-minio.sh)

.PHONY: run build test test-short generate lint bench jepsen clean-data

run: ## run one node on the embedded default (./data, local object store)
	$(GO) run ./cmd/miniodb serve

build: ## build bin/miniodb
	$(GO) build -o $(BIN) ./cmd/miniodb

test: ## the full default test suite (CI runs this)
	MINIODB_MINIO_BIN=$(MINIO) $(GO) test -count=1 -timeout 20m ./...

test-short: ## unit tests only, no MinIO
	$(GO) test -count=1 -short ./...

generate: ## regenerate proto/miniodb/v1 (buf + protoc-gen-go + protoc-gen-connect-go, pinned)
	cd proto && PATH="$$(../scripts/install-tools.sh):$$PATH" buf lint && PATH="$$(../scripts/install-tools.sh):$$PATH" buf generate

lint:
	$(GO) vet ./...

bench: ## benchmarks: wal, parquet, ingest parsing, and whole-node ingest/query vs raw DuckDB
	$(GO) test -run '^$$' -bench . -benchtime 3x ./wal/ ./parquetio/ ./ingest/
	$(GO) run ./cmd/miniodb bench

clean-data: ## remove ./data (the embedded default's state)
	rm -rf data
