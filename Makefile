# Audiences — the two commands a new user needs:
#   make demo   generate demo data, build every model, sync to the local sandbox destinations
#   make test   install everything and run every check and test (what CI runs)

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DBT_PROFILES_DIR := $(CURDIR)

# The demo pins every window to the generator's --as-of, so results are reproducible.
AS_OF ?= 2026-11-24T00:00:00
SEED ?= 42
DEMO_EVENTS ?= 1000000
DEMO_DB ?= audiences.duckdb
DEMO_REPORT ?= report.html
TEST_EVENTS ?= 200000
TEST_DB ?= .test/audiences-test.duckdb
DBT_VARS := {as_of: '$(AS_OF)'}

.PHONY: help setup demo test lint build-test-warehouse pytest clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

dbt_packages/dbt_utils/dbt_project.yml: packages.yml | $(VENV)/.installed
	bash scripts/install_dbt_packages.sh

setup: $(VENV)/.installed dbt_packages/dbt_utils/dbt_project.yml  ## create .venv, install the project and the dbt packages

demo: setup  ## run the whole job on DuckDB with generated demo data and sync to the sandbox
	@# a new warehouse each time, as build-test-warehouse: the incremental models and the sync
	@# state must not meet the rows of an earlier demo built from other generated data
	rm -f $(DEMO_DB) $(DEMO_DB).wal
	AUDIENCES_DUCKDB_PATH=$(DEMO_DB) audiences generate --events $(DEMO_EVENTS) --seed $(SEED) --as-of $(AS_OF)
	AUDIENCES_DUCKDB_PATH=$(DEMO_DB) dbt build --vars "$(DBT_VARS)" --quiet
	@# machine-learned segments (docs/ml.md): personas, propensity (evaluated next to intent_score),
	@# recommendations into the ml schema, then the models that read them (source ml) again
	AUDIENCES_DUCKDB_PATH=$(DEMO_DB) audiences ml --as-of $(AS_OF)
	AUDIENCES_DUCKDB_PATH=$(DEMO_DB) dbt build --vars "$(DBT_VARS)" --quiet -s source:ml+
	AUDIENCES_DUCKDB_PATH=$(DEMO_DB) audiences summary
	AUDIENCES_DUCKDB_PATH=$(DEMO_DB) audiences report
	@# why one person is in a playbook segment: each condition, its value and its threshold
	AUDIENCES_DUCKDB_PATH=$(DEMO_DB) audiences explain --member-of viewed_product_3x_24h
	@# the sync realtime_profiles loads the batch memberships into Redis (docs/realtime.md)
	bash scripts/redis_up.sh
	@# exit 3 = partial: some rows were rejected by a destination (listed above, retried next run)
	AUDIENCES_DUCKDB_PATH=$(DEMO_DB) audiences sandbox demo || test $$? -eq 3
	@# the HTML report (docs/report.md): segment health, lift, KPIs, match rates; prints its path
	AUDIENCES_DUCKDB_PATH=$(DEMO_DB) audiences report --html $(DEMO_REPORT)
	@# real time: audiences serve on 127.0.0.1, a visitor's events move them into a segment
	@# (lookup before and after), the demo page's URL; the server keeps running for the page
	audiences realtime-demo $(if $(CI),--stop,)

lint: setup  ## ruff, sqlfluff, the sync engine's import layers and types (mypy, strict on its core)
	ruff check .
	ruff format --check .
	lint-imports --no-cache
	pytest -q -p no:cacheprovider tests/python/reverse_etl/test_architecture.py
	mypy
	mkdir -p .test
	AUDIENCES_DUCKDB_PATH=.test/lint.duckdb sqlfluff lint models snapshots tests/dbt --disable-progress-bar 2>&1 | grep -v '^WARNING' ; test $${PIPESTATUS[0]} -eq 0

build-test-warehouse: setup  ## generate test data and run dbt build (models, data tests, unit tests) on it
	mkdir -p $(dir $(TEST_DB))
	rm -f $(TEST_DB)
	AUDIENCES_DUCKDB_PATH=$(TEST_DB) audiences generate --events $(TEST_EVENTS) --seed 7 --as-of $(AS_OF)
	AUDIENCES_DUCKDB_PATH=$(TEST_DB) dbt build --vars "$(DBT_VARS)" --target-path target-test

pytest: setup  ## the Python test suite (the real-mart sync test uses the test warehouse)
	AUDIENCES_REAL_MART_DB=$(TEST_DB) AUDIENCES_REAL_MART_TARGET=target-test pytest -q --durations=15

test: setup lint build-test-warehouse build-postgres pytest  ## install everything and run every check and test

clean:  ## remove build products (keeps .venv)
	rm -rf target target-test target-postgres target-spark .test .spark logs dbt_packages

# ---- other engines: PostgreSQL, Spark (docs/engines.md) ----
PG_TEST_DATABASE ?= audiences_test
SPARK_DIR ?= .spark
SPARK_EVENTS ?= 50000
SPARK_TEST_DB ?= .test/audiences-spark.duckdb
SPARK_INCREMENTAL_EVENTS ?= 20000
BENCH_EVENTS ?= 1000000
# One PostgreSQL for dbt, load-postgres, the engine comparison and the sync engine's tests.
# PGPASSWORD is not exported (every tool defaults it to `audiences`): the sync engine redacts
# its value from messages, and "audiences" is also a word in them. Its state store gets the
# password through AUDIENCES_PG_DSN instead.
export PGHOST ?= 127.0.0.1
export PGPORT ?= 5432
export PGUSER ?= audiences
export PGDATABASE ?= audiences
export AUDIENCES_PG_DSN ?= host=$(PGHOST) port=$(PGPORT) user=$(PGUSER) password=$(or $(PGPASSWORD),audiences) dbname=$(PGDATABASE)

.PHONY: postgres-up build-postgres test-spark bench-engines

postgres-up:  ## start a local PostgreSQL (installing the Debian package if needed); role and database audiences
	bash scripts/postgres_up.sh

build-postgres: setup  ## PostgreSQL: load the test data (from build-test-warehouse) into $(PG_TEST_DATABASE), dbt build --target postgres
	bash scripts/postgres_up.sh
	PGDATABASE=$(PG_TEST_DATABASE) bash scripts/postgres_up.sh --fresh
	test -f $(TEST_DB) || $(MAKE) build-test-warehouse
	PGDATABASE=$(PG_TEST_DATABASE) AUDIENCES_DUCKDB_PATH=$(TEST_DB) audiences load-postgres
	PGDATABASE=$(PG_TEST_DATABASE) dbt build --target postgres --vars "$(DBT_VARS)" --target-path target-postgres

test-spark: setup  ## Spark (local session): generate demo data, build every model and run every test on it; incremental == full refresh
	$(BIN)/pip install --quiet 'dbt-spark[session]~=1.11.0'
	mkdir -p $(dir $(SPARK_TEST_DB))
	rm -rf $(SPARK_DIR) $(SPARK_TEST_DB)
	AUDIENCES_DUCKDB_PATH=$(SPARK_TEST_DB) audiences generate --events $(SPARK_EVENTS) --seed 7 --as-of $(AS_OF)
	AUDIENCES_SPARK_DIR=$(SPARK_DIR) AUDIENCES_DUCKDB_PATH=$(SPARK_TEST_DB) audiences load-spark
	AUDIENCES_SPARK_DIR=$(SPARK_DIR) dbt build --target spark --vars "$(DBT_VARS)" --target-path target-spark
	@# incremental runs equal a full refresh on Spark too (own data, metastore and target path
	@# under .test/spark-incremental; docs/engines.md)
	python scripts/spark_incremental_check.py --events $(SPARK_INCREMENTAL_EVENTS) --as-of $(AS_OF)

bench-engines: setup  ## full build at $(BENCH_EVENTS) events on DuckDB, PostgreSQL and Spark; appends to benchmarks/RESULTS.md
	$(BIN)/pip install --quiet 'dbt-spark[session]~=1.11.0'
	bash scripts/postgres_up.sh
	python benchmarks/bench_engines.py --events $(BENCH_EVENTS) --as-of $(AS_OF)
