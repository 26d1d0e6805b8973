# paymesh developer and CI entry points. `make help` lists the targets.
#
# Everything runs from the repo root with the venv in .venv, which is built
# only from requirements.lock (hash-checked, no dependency resolution), so
# every developer and CI get byte-identical packages.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp lives inside the venv, so deleting .venv also forgets it.
VENV_STAMP := $(VENV)/.paymesh-lock-stamp

# Hand-written Python checked by mypy; a directory with no .py file yet is
# skipped (mypy refuses one). Deferred (=) so only `make typecheck` runs find.
PY_DIRS = $(foreach d,svc_kit ledger_svc identity_svc gateway_svc sandbox bench tests scripts docker,\
	$(if $(shell find $(d) -name '*.py' -print -quit 2>/dev/null),$(d)))

BUF_VERSION := 1.75.0
BUF := npx --yes @bufbuild/buf@$(BUF_VERSION)

PIP_COMPILE_FLAGS := --generate-hashes --no-emit-index-url --no-emit-find-links \
	--allow-unsafe --strip-extras

# Nothing may wait for a keyboard: CI runs with no stdin.
export PIP_NO_INPUT := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export npm_config_yes := true
export npm_config_update_notifier := false
export npm_config_fund := false
export npm_config_audit := false

.PHONY: help venv run test gen check-gen lint fmt typecheck buf-lint buf-build \
	imports envoy-validate compose-validate bench bench-authz bench-edge bench-payments bench-webhooks \
	lock clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

venv: $(VENV_STAMP) ## build .venv from requirements.lock

# Rebuilt from scratch whenever the lock changes, so no package the lock no
# longer names survives. pip is the one bundled with Python: upgrading it would
# install something the lock does not hash.
$(VENV_STAMP): requirements.lock
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	touch $@

# The supervisor makes the dev PKI (var/pki) and migrates before it starts
# anything, then runs until Ctrl-C, which stops Envoy first, then the services.
# `REPLICAS=2 make run` runs two processes of each service, `REPLICAS=gateway=2` two gateways;
# `.venv/bin/python scripts/run_stack.py --help` lists the PAYMESH_* settings.
run: venv ## identity, ledger, gateway and the provider sandbox behind Envoy (REST :8443, gRPC :9443), SQLite under var/; Ctrl-C stops
	$(BIN)/python scripts/run_stack.py $(if $(REPLICAS),--replicas $(REPLICAS)) $(RUN_ARGS)

# pytest exits 5 when it collected nothing; that is a failure here, never a pass.
test: venv ## run the test suite (pytest config in pyproject.toml)
	rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: ERROR: pytest collected no tests" >&2; fi; \
	exit $$rc

gen: venv ## regenerate paymesh/ (Python code and stubs) from proto/
	$(BIN)/python scripts/gen_protos.py

check-gen: venv ## fail if paymesh/ differs from what proto/ generates
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BIN)/python scripts/gen_protos.py --out "$$tmp"; \
	if ! diff -ru --exclude=__pycache__ paymesh "$$tmp/paymesh"; then \
		echo "make check-gen: ERROR: paymesh/ is stale or hand-edited;" \
			"run 'make gen' and commit the result." >&2; \
		exit 1; \
	fi; \
	echo "make check-gen: paymesh/ matches proto/"

lint: venv ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: venv ## mypy (strict on hand-written code)
	$(BIN)/mypy $(PY_DIRS)

buf-lint: ## lint our protos with buf (the vendored googleapis module is not linted)
	$(BUF) lint

buf-build: ## compile all protos with buf
	$(BUF) build -o /dev/null

imports: venv ## check import contracts (import-linter)
	$(BIN)/lint-imports

# The edge config is generated from the proto descriptors (scripts/envoy_config/)
# against a throwaway PKI, then checked by the real Envoy without serving.
envoy-validate: venv ## generate the Envoy config from the protos and validate it with Envoy
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BIN)/python -m svc_kit.pki init --dir "$$tmp/pki" >/dev/null; \
	$(BIN)/python -m scripts.envoy_config --pki-dir "$$tmp/pki" --out "$$tmp"; \
	$(BIN)/envoy --mode validate -c "$$tmp/envoy.json" --use-dynamic-base-id --log-level warning

# docker-compose.yml is checked offline by docker-compose's own schema and
# interpolation (no Docker engine needed).
compose-validate: ## check docker-compose.yml with `docker-compose config` (no engine needed)
	@if ! command -v docker-compose >/dev/null 2>&1; then \
		echo "make compose-validate: ERROR: docker-compose not found;" \
			"install it (Debian: apt-get install docker-compose)" >&2; \
		exit 127; \
	fi
	docker-compose -f docker-compose.yml config -q
	@echo "make compose-validate: docker-compose.yml is valid"

bench: venv ## run the benchmarks
	$(BIN)/python -m bench

bench-authz: venv ## benchmark identity's ext_authz Check against a trivial gRPC call
	$(BIN)/python -m bench.authz $(BENCH_ARGS)

# Needs h2load (Debian: nghttp2-client). BENCH_ARGS=--explore adds the alternatives to the
# Python Check; BENCH_ARGS=--help lists the rest. The report goes to bench/results/.
bench-edge: venv ## benchmark REST via Envoy (with/without ext_authz), direct gRPC, pass-through
	$(BIN)/python -m bench.edge $(BENCH_ARGS)

# Needs h2load (Debian: nghttp2-client) and the local PostgreSQL (--pg-url). Starts the stack
# `make run` starts, with its databases on PostgreSQL; BENCH_ARGS=--help lists the flags. The
# report goes to bench/results/.
bench-payments: venv ## benchmark payments end to end (REST, gateway, sandbox, ledger on PostgreSQL)
	$(BIN)/python -m bench.payments $(BENCH_ARGS)

# Starts a local receiver (verifying every delivery with the standardwebhooks package) and
# the delivery worker on a fresh database; BENCH_ARGS=--help lists the flags (--pg, --workers).
bench-webhooks: venv ## benchmark merchant webhook delivery (events/s to a local HTTPS receiver)
	$(BIN)/python -m bench.webhooks $(BENCH_ARGS)

# Re-resolves requirements.in with pip-tools from a throwaway venv; pass
# LOCK_ARGS=--upgrade (or --upgrade-package NAME) to move versions forward.
lock: ## re-resolve requirements.in into requirements.lock
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet pip-tools; \
	CUSTOM_COMPILE_COMMAND="make lock" "$$tmp/venv/bin/pip-compile" --quiet \
		$(PIP_COMPILE_FLAGS) $(LOCK_ARGS) --output-file=requirements.lock requirements.in

clean: ## remove the venv, caches and build stamps (keeps var/, the dev data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
