# bobodiff — every target bootstraps .venv itself (Python 3.11, pip install -e '.[bench,dev]').
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CONFIG ?= configs/default.toml
RUN    ?= results/latest

.PHONY: help venv test lint bench charts profile snakeviz clean valgrind

# The instruction metric (run.metric = "instructions") counts with valgrind's callgrind:
# installed with apt-get when missing and run as root; otherwise those cells are skipped
# with the reason (and its test is skipped).
VALGRIND_INSTALL = command -v valgrind >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] \
	  && command -v apt-get >/dev/null && (apt-get update -qq && apt-get install -y -qq \
	  valgrind) >/dev/null 2>&1; } || echo "note: valgrind not installed; instruction counts skipped"

help:
	@echo "make bench    run the default benchmark config (configs/default.toml) -> results/latest/"
	@echo "make test     lint (ruff) + the whole test suite (pytest)"
	@echo "make charts   redraw tables, plots and index.html of results/latest from raw.jsonl"
	@echo "make profile  profile representative cells (cProfile, Scalene, memory_profiler) into results/latest/profiles"
	@echo "make snakeviz serve a cProfile profile on 127.0.0.1 (PROF=path.prof to choose)"
	@echo "make lint     ruff only"
	@echo "make clean    remove .venv, caches and results (keeps results/README.md)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[bench,dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

valgrind:
	@$(VALGRIND_INSTALL)

test: lint valgrind
	$(PY) -m pytest -q

bench: $(STAMP) valgrind
	$(PY) -m harness run $(CONFIG)

charts: $(STAMP)
	$(PY) -m harness charts $(RUN)

# Call graphs need graphviz's `dot`; without it the profiles get bar charts instead.
profile: $(STAMP)
	@command -v dot >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && apt-get install -y -qq graphviz) >/dev/null 2>&1; } \
	  || echo "note: graphviz not installed; profiles get bar charts instead of call graphs"
	$(PY) -m harness profile $(CONFIG) $(if $(ONLY),--only $(ONLY))

snakeviz: $(STAMP)
	$(PY) -m harness snakeviz $(RUN) $(if $(PROF),--prof $(PROF))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find results -mindepth 1 ! -name README.md -exec rm -rf {} + 2>/dev/null || true
