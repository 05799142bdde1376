# cmtflow developer entry points. `make demo` sets everything up and runs the demo;
# `make test` runs the tests. Both create .venv (Python 3.11) on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-all bench images clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "cmtflow needs Python 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP)

# The demo: generates a regional scenario (real station layout, known source, synthetics
# + noise + instrument response as SDS/StationXML/QuakeML) and runs the cmt_inversion DAG
# on it through an embedded Airflow (SQLite) in the data root ($$CMTFLOW_HOME, default ~/cmtflow).
demo: install
	$(BIN)/cmtflow demo

# the default suite, then the load test (20 alerts through a real airflow standalone)
test: install
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest -m load

bench: install
	$(BIN)/python benchmarks/bench_greens.py
	$(BIN)/python benchmarks/bench_inversion.py
	$(BIN)/python benchmarks/bench_inversion.py --picker flexwin
	$(BIN)/python benchmarks/bench_processing.py
	$(BIN)/python benchmarks/bench_dag.py

# Container images (needs a Docker engine): the step runtime, SPECFEM3D, Airflow + cmtflow.
VERSION ?= 0.1.0
SPECFEM_SRC ?= ../specfem3d
images:
	docker build -f images/cmtflow/Dockerfile -t cmtflow/cmtflow:$(VERSION) .
	docker build -f images/specfem3d/Dockerfile --build-context specfem=$(SPECFEM_SRC) -t cmtflow/specfem3d:4.1.1 .
	docker build -f images/airflow/Dockerfile -t cmtflow/airflow:$(VERSION) .

clean:
	rm -rf $(VENV) out .pytest_cache
