# cmtflow developer entry points. `make demo` sets everything up and runs the demo;
# `make test` runs the tests. Both create .venv (Python 3.11) on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast bench images specfem clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "cmtflow needs Python 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -c 'from cmtflow.solvers.fk import warm_up; warm_up()'  # numba kernels compiled once, here
	@touch $@

install: $(STAMP)

# The demo: generates a regional scenario (real station layout, known source, synthetics
# + noise + instrument response as SDS/StationXML/QuakeML) and runs the cmt_inversion DAG
# on it through an embedded Airflow (SQLite) in the data root ($$CMTFLOW_HOME, default ~/cmtflow).
demo: install
	$(BIN)/cmtflow demo

# SPECFEM3D_Cartesian from the vendored source (GPL-3: built and run, never linked) into a cache
# outside the checkout (~/.cache/cmtflow/specfem3d/<source hash>), reused while the source is
# the same; its tests call the same script (instant once built). Prints the bin folder.
SPECFEM_SOURCE ?= ../shared/vendor/specfem3d-4.1.1-src.tar.gz
specfem:
	@if [ -e "$(SPECFEM_SOURCE)" ] || [ -n "$$CMTFLOW_SPECFEM_BIN" ]; then \
	    [ -n "$$CMTFLOW_SPECFEM_BIN" ] || scripts/build-specfem3d $(SPECFEM_SOURCE); \
	else echo "no SPECFEM3D source at $(SPECFEM_SOURCE): its tests will skip"; fi

# `make test`: the default suite (`pytest`: everything not marked slow, load or benchmark), then
# the slow integration tests (`-m slow`: whole runs through Airflow, SPECFEM3D, real time), then
# the load test (a burst of 30 alerts through a real airflow standalone); CI runs all three.
# `make test-fast`: the default suite only.
# Test files spread over TEST_WORKERS processes (pytest-xdist; a file stays in one, so its
# session fixtures are made once), in the order tests/conftest.py gives (the longest files
# first, the short ones fill in); the load test alone, after them
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: install specfem
	$(PYTEST)
	$(PYTEST) -m slow
	$(BIN)/python -m pytest -m load

test-fast: install specfem
	$(PYTEST)

bench: install
	$(BIN)/python benchmarks/bench_greens.py
	$(BIN)/python benchmarks/bench_inversion.py
	$(BIN)/python benchmarks/bench_inversion.py --picker flexwin --no-docs
	$(BIN)/python benchmarks/bench_processing.py
	$(BIN)/python benchmarks/latency.py

# Container images (needs a Docker engine): the step runtime, SPECFEM3D, Airflow + cmtflow.
VERSION ?= 0.1.0
images:
	docker build -f images/cmtflow/Dockerfile -t cmtflow/cmtflow:$(VERSION) .
	docker build -f images/specfem3d/Dockerfile --build-context specfem=$(dir $(SPECFEM_SOURCE)) -t cmtflow/specfem3d:4.1.1 .
	docker build -f images/airflow/Dockerfile -t cmtflow/airflow:$(VERSION) .

clean:
	rm -rf $(VENV) out .pytest_cache
