# Krafa: every target bootstraps .venv from constraints.txt first (make install).
SHELL := /bin/bash
# Python writes bytecode here even where the environment says not to (PYTHONDONTWRITEBYTECODE):
# without it every process — each service of every test stack — compiles all its imports from
# source, about twice the CPU of a start. Installed packages are compiled once at install.
unexport PYTHONDONTWRITEBYTECODE
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MEMBERS := libs/events libs/law libs/kit libs/iobws services/claims-api services/scheduler services/notifier \
           services/bounce-handler services/payments-ingest services/web tools/krafa
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?=
CHAOS_ARGS ?= --repeat 3 --keep-failed .krafa/chaos-failed
# Apache Kafka's jars (deploy/kafka/pom.xml pins the version), copied by Maven, never committed.
KAFKA_DIR := .krafa-kafka
KAFKA_STAMP := $(KAFKA_DIR)/libs/.copied

.PHONY: install kafka browser messages screenshots dashboards run demo test test-fast test-kafka test-unit test-integration test-e2e lint fmt typecheck \
        schemas asyncapi constraints up down clean bench chaos

install: $(STAMP) $(KAFKA_STAMP)

kafka: $(KAFKA_STAMP)

$(KAFKA_STAMP): deploy/kafka/pom.xml
	rm -rf $(KAFKA_DIR)/libs
	mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
	    -DoutputDirectory=$(CURDIR)/$(KAFKA_DIR)/libs
	@touch $@

$(STAMP): constraints.txt requirements.in $(addsuffix /pyproject.toml,$(MEMBERS))
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$$(grep '^uv==' constraints.txt)"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt \
	    --build-constraint constraints.txt -r requirements.in $(addprefix -e ,$(MEMBERS))
	@touch $(STAMP)

# Pages are tested in a real browser: Debian's chromium (never a downloaded build) driven by
# Playwright, and axe-core from npm for the accessibility check (no CDN, no package-lock).
AXE := .cache/npm/node_modules/axe-core/axe.min.js
AXE_VERSION := 4.14.1
# The integrator's tools the contract tests run on every OpenAPI document (redocly lint, a
# TypeScript client type-checked by tsc), pinned in tests/contract/node/package.json; no lock file.
OPENAPI_NODE := .cache/npm-openapi/node_modules/.krafa-installed

browser: $(AXE) $(OPENAPI_NODE)
	@command -v chromium >/dev/null 2>&1 || { SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

$(AXE):
	npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix .cache/npm axe-core@$(AXE_VERSION)

$(OPENAPI_NODE): tests/contract/node/package.json
	mkdir -p .cache/npm-openapi && cp $< .cache/npm-openapi/package.json
	npm install --silent --no-package-lock --no-audit --no-fund --prefix .cache/npm-openapi
	@touch $@

# The portal's texts: extract them from the templates and merge into every language's catalogue.
messages: install
	cd services/web && ../../$(BIN)/pybabel extract -F babel.cfg -o src/krafa_web/locale/web.pot --no-location \
	    --omit-header . && ../../$(BIN)/pybabel update -i src/krafa_web/locale/web.pot -d src/krafa_web/locale \
	    -D web --no-fuzzy-matching --ignore-obsolete --width 100

# Every portal page in two languages, on a phone and a desktop, as PNGs: make screenshots DIR=…
screenshots: install browser
	$(BIN)/krafa screenshots $(or $(DIR),.krafa/screenshots)

# The Grafana dashboards as PNGs drawn from a real Prometheus (Debian's prometheus) after a short
# demo: make dashboards DIR=… (the README's pictures are docs/screenshots/dashboards).
dashboards: install
	$(BIN)/krafa dashboards render --out $(or $(DIR),docs/screenshots/dashboards)

run: install
	$(BIN)/krafa run --demo

demo: install
	$(BIN)/krafa demo

# Workers (pytest-xdist) on two cores: a test waits much of its time (a consumer group join, a
# simulated day, a browser), and more workers than cores fill those waits (make test-fast 4 min 34 s
# on two workers, 3 min 44 s on three). Every worker has its own PostgreSQL with each service's
# template database. `--dist loadgroup` selects the kit's scheduler (krafa_kit.testing.send_order):
# each file on one worker (a module's stack starts once), the Apache Kafka half of each whole-stack
# module (tests/e2e, tests/chaos) a unit of its own beside its embedded half, the longest units
# first; two of the workers start a three-node cluster each and run the Kafka halves on it (the
# chaos run's starts its own). Five workers: the suites on both brokers are more stacks to wait on.
XDIST ?= -n 5 --dist loadgroup
# make test-kafka: the whole-stack suites and the cluster's own tests on Apache Kafka alone, in one
# process (one cluster); KAFKA_TESTS=tests/chaos for the short chaos run only.
KAFKA_TESTS ?= tests/e2e tests/chaos libs/kit/tests/test_kafka_cluster.py

# Everything, as CI runs it (.ci/run), in one session: unit and integration tests on the embedded
# PostgreSQL and Tansu, the e2e and chaos suites on Tansu and on a three-node Apache Kafka cluster
# (README "Tests" says which).
test: install lint browser
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: install lint
	$(BIN)/python -m pytest $(XDIST) -m "not e2e and not kafka" $(PYTEST_ARGS)

test-kafka: install
	KRAFA_TEST_BACKEND=kafka $(BIN)/python -m pytest $(KAFKA_TESTS) $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest $(XDIST) -m "not integration and not e2e" $(PYTEST_ARGS)

test-e2e: install browser
	$(BIN)/python -m pytest $(XDIST) tests $(PYTEST_ARGS)

# Faults under load on an embedded stack, then every invariant (its short form runs in make test
# as tests/chaos): by default three full runs in a row, a failed run's stack directory (logs and
# database) kept in .krafa/chaos-failed; make chaos CHAOS_ARGS="--repeat 1" for one.
chaos: install
	$(BIN)/krafa chaos $(CHAOS_ARGS)

# Throughput/latency figures into bench/results.json: make bench BENCH_ARGS="--quick".
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python tools/lint/file_roles.py
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: install
	$(BIN)/python -m krafa_events.schema_export libs/events/schemas

asyncapi: install
	$(BIN)/python -m krafa_events.asyncapi deploy/asyncapi/asyncapi.yaml

# Re-pin: resolves requirements.in to name==version lines only (no registry URLs).
constraints: install
	$(BIN)/uv pip compile --no-emit-index-url --no-header --no-annotate --python-version 3.11 \
	    requirements.in -o constraints.txt

# Compose v2 (`docker compose`) where the plugin is installed, else the standalone `docker-compose`
# (Debian's package, the one CI validates docker-compose.yml with).
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

up:
	$(COMPOSE) up -d --build

down:
	$(COMPOSE) down

clean:
	rm -rf $(VENV) $(KAFKA_DIR) .pytest_cache .mypy_cache .ruff_cache
