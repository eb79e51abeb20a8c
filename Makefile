# bobodiff — every target bootstraps .venv itself (Python 3.11, pip install -e '.[bench,dev]'
# and the example plug-in).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CONFIG ?= configs/default.toml
RUN    ?= results/latest

.PHONY: help venv test lint bench charts profile snakeviz clean graphviz chromium valgrind

help:
	@echo "make bench    measure configs/default.toml, then profile the cells its [profile] names -> results/latest/"
	@echo "              (CONFIG=configs/quick.toml: every experiment and engine at fewer sizes, a few minutes)"
	@echo "make test     lint (ruff) + the whole test suite (pytest), including the browser test"
	@echo "make charts   redraw tables, plots and index.html of results/latest from raw.jsonl"
	@echo "make profile  profile every engine's representative cells (cProfile, Scalene, memory_profiler) into results/latest/profiles"
	@echo "make snakeviz serve a cProfile profile on 127.0.0.1 (default E1-loop bobodiff-scalar; PROF=part of a name)"
	@echo "make lint     ruff only"
	@echo "make clean    remove .venv, caches and results (keeps results/README.md)"

venv: $(STAMP)

# The mygrad plug-in of examples/ is installed as a third party's would be: the tests check
# that the harness finds it and measures it.
PLUGIN := examples/bobodiff-harness-mygrad

$(STAMP): pyproject.toml $(PLUGIN)/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[bench,dev]'
	$(PY) -m pip install --quiet -e $(PLUGIN)
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint chromium valgrind
	$(PY) -m pytest -q

# Measure, then profile the cells the config's [profile] table names, into the same run.
bench: $(STAMP) graphviz valgrind
	$(PY) -m harness run $(CONFIG)
	$(PY) -m harness profile $(CONFIG) --named --run $(RUN)

charts: $(STAMP)
	$(PY) -m harness charts $(RUN)

profile: $(STAMP) graphviz
	$(PY) -m harness profile $(CONFIG) $(if $(ONLY),--only $(ONLY))

# System tools: installed with apt-get when missing and root, else a note and a fallback.
# graphviz's dot draws the call graphs (else bar charts); chromium runs tests/test_browser.py
# (else it is skipped with the reason).
APT_TOOL = command -v $(1) >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get \
	  >/dev/null && (apt-get update -qq && apt-get install -y -qq $(2)) >/dev/null 2>&1; } \
	  || echo "note: $(2) not installed; $(3)"

graphviz:
	@$(call APT_TOOL,dot,graphviz,profiles get bar charts instead of call graphs)

chromium:
	@$(call APT_TOOL,chromium,chromium,tests/test_browser.py will be skipped)

# The instruction metric (run.metric = "instructions") counts with valgrind's callgrind;
# without it those cells are skipped with the reason (and its test is skipped).
valgrind:
	@$(call APT_TOOL,valgrind,valgrind,instruction counts skipped)

snakeviz: $(STAMP)
	$(PY) -m harness snakeviz $(RUN) $(if $(PROF),--prof $(PROF))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find results -mindepth 1 ! -name README.md -exec rm -rf {} + 2>/dev/null || true
