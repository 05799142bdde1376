# cmtflow developer entry points. `make demo` sets everything up and runs the demo;
# `make test` runs the tests. Both create .venv (Python 3.11) on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := out/demo

.PHONY: install demo test test-all bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "cmtflow needs Python 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP)

# Forward modelling for a real network layout: Green's functions in the FK/CAP layout and
# displacement synthetics of the published MTUQ solution of the 2009 southern Alaska event;
# then a CMT3D recovery test at the same stations (noisy synthetics, perturbed start).
demo: install
	$(BIN)/cmtflow models
	$(BIN)/cmtflow greens --model scak --depth 33.03 --distances 10,25,50,75,100,150,200,250,280 \
		--dt 0.2 --npts 1024 --out $(DEMO)/greens
	$(BIN)/cmtflow synth --model scak --source src/cmtflow/scenarios/CMTSOLUTION_alaska_2009 \
		--stations src/cmtflow/scenarios/STATIONS_alaska --dt 0.2 --npts 1024 --out $(DEMO)/synthetics
	$(BIN)/cmtflow invert --synthetic-test --initial src/cmtflow/scenarios/CMTSOLUTION_alaska_2009 --model scak \
		--stations src/cmtflow/scenarios/STATIONS_alaska --params 7 --out $(DEMO)/inversion
	@echo "demo products in $(DEMO)/"

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/bench_greens.py
	$(BIN)/python benchmarks/bench_inversion.py
	$(BIN)/python benchmarks/bench_inversion.py --picker flexwin
	$(BIN)/python benchmarks/bench_processing.py

clean:
	rm -rf $(VENV) out .pytest_cache
