# Krafa: every target bootstraps .venv from constraints.txt first (make install).
SHELL := /bin/bash
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

.PHONY: install kafka run demo test test-fast test-unit test-integration test-e2e lint fmt typecheck \
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
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt --build-constraint constraints.txt \
	    -r requirements.in $(addprefix -e ,$(MEMBERS))
	@touch $(STAMP)

run: install
	$(BIN)/krafa run --demo

demo: install
	$(BIN)/krafa demo

# Two workers (pytest-xdist), each file on one worker so a module's stack starts once; every
# worker has its own PostgreSQL with each service's template database.
XDIST ?= -n 2 --dist loadfile

# Everything, as CI runs it (.ci/run).
test: install lint
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# Lint, unit and integration tests: everything but the whole-stack e2e runs.
test-fast: install lint
	$(BIN)/python -m pytest $(XDIST) -m "not e2e" $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest $(XDIST) -m "not integration and not e2e" $(PYTEST_ARGS)

test-e2e: install
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

up:
	docker compose up -d --build

down:
	docker compose down

clean:
	rm -rf $(VENV) $(KAFKA_DIR) .pytest_cache .mypy_cache .ruff_cache
