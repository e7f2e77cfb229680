# Boost developer commands. `make run` and `make test` need nothing installed
# beforehand but Rust: they find or start PostgreSQL, Redis and the broker.

BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf

.PHONY: run test chaos fuzz soak bench profile lint fmt clippy buf-lint buf-breaking sdk sdk-check envoy-check manifests-check console deps build clean-data

## run: start dependencies and all five services, create a demo key, print grpcurl commands
run:
	bash deploy/local/run.sh

## test: the whole test suite against real PostgreSQL, Redis and broker
test:
	bash deploy/local/test.sh

## chaos: kill and restart every component 3 times under load; fails on any lost or duplicated event (CHAOS_KILLS=n)
chaos:
	bash deploy/local/chaos.sh

## fuzz: every cargo-fuzz target in shared/fuzz for FUZZ_SECONDS (60) each; fails on a finding
fuzz:
	bash deploy/local/fuzz.sh

## soak: SOAK_MINUTES (30) at half the measured capacity, sampling memory, files, connections and latency each minute
soak:
	bash deploy/local/soak.sh

## bench: release benchmarks over real components (BENCH="auth" selects)
bench:
	bash deploy/local/bench.sh

## profile: CPU flame graph of the in-process stack during one ingest bench phase, PROFILE_PHASE=batch (default) or track, or of the ingest process in one telemetry bench row, PROFILE_PHASE=telemetry (perf + inferno)
profile:
	bash deploy/local/profile.sh

## lint: rustfmt, clippy (warnings are errors), buf lint, generated SDK code current, Envoy config against Envoy's API schema, compose and Kubernetes manifests against their schemas
lint: fmt clippy buf-lint buf-breaking sdk-check envoy-check manifests-check

## console: build the browser console into services/console/dist (make run does it when stale)
console:
	ROOT=$(CURDIR) bash -c '. services/console/console.sh && console_build'

## sdk: regenerate every SDK's protobuf and gRPC code from proto/
sdk: $(BUF)
	BUF=$(BUF) bash shared/sdk/generate.sh

sdk-check: $(BUF)
	BUF=$(BUF) bash shared/sdk/check-generated.sh

# deploy/envoy/envoy.yaml parsed into Envoy's v3 Bootstrap (xds-protos): no Envoy binary needed.
envoy-check:
	ROOT=$(CURDIR) bash -c '. shared/sdk/python/venv.sh && python_venv && "$$VENV/bin/python" deploy/envoy/check.py deploy/envoy/envoy.yaml'

# deploy/compose against the Compose spec, deploy/kubernetes against the Kubernetes OpenAPI schemas: no runtime needed.
manifests-check:
	ROOT=$(CURDIR) bash -c '. shared/sdk/python/venv.sh && python_venv && "$$VENV/bin/python" deploy/manifests/check.py .'

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

buf-lint: $(BUF)
	$(BUF) lint

# The contracts stay wire- and JSON-compatible with main (origin/main when a
# remote has it): SDKs generated from an older proto/ keep working.
BREAKING_AGAINST := $(shell git rev-parse --verify -q origin/main >/dev/null && echo origin/main || echo main)
buf-breaking: $(BUF)
	$(BUF) breaking --against '.git#ref=$(BREAKING_AGAINST)'

$(BUF):
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION)

## deps: only find or start PostgreSQL, Redis and the broker
deps:
	bash deploy/local/deps.sh

## build: the services' release binaries into target/release (what make run starts)
build:
	bash -c '. deploy/local/lib.sh && build_services'

## clean-data: stop private dependencies and delete .data
clean-data:
	bash deploy/local/stop-deps.sh
	rm -rf .data
