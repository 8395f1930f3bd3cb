# spikeloom — the two commands: `make demo` (the main job) and `make test` (the tests).
# Each creates .venv and installs the pinned packages (constraints.txt) on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
SEEDS  ?= 50
JOBS   ?= 2
export AMARANTH_USE_YOSYS := builtin

.PHONY: demo test regress bench lint venv icarus clean

venv: $(STAMP)
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

# Icarus is the one system package: install it when we are root and it is missing; otherwise the
# Icarus tests skip and say why.
icarus:
	@if ! command -v iverilog >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Icarus Verilog with apt"; \
	    (apt-get update -qq && apt-get install -y -qq iverilog >/dev/null) || echo "apt could not install iverilog: Icarus tests will skip"; \
	  else echo "iverilog not found and not root: Icarus tests will skip"; fi; \
	fi

demo: venv
	$(PY) examples/demo.py

lint: venv
	$(PY) -m ruff check proto hdl host sim firmware tests examples bench

test: venv icarus lint
	$(PY) -m pytest -n $(JOBS) -m "not regress" --durations=25 tests

regress: venv icarus
	SPIKELOOM_SEEDS=$(SEEDS) $(PY) -m pytest -n $(JOBS) -m regress tests

bench: venv
	$(PY) -m spikeloom.cli bench

clean:
	rm -rf build .pytest_cache
