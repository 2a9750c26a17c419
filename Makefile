# The two commands a newcomer runs (README): `make demo` and `make test`. Each creates .venv and installs
# what it needs, so they work on a fresh machine that has only Python >= 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "streamcal needs Python >= 3.11 (set PYTHON=python3.X)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,stcal]'
	@touch $(STAMP)

# Simulate the demo program into a fresh ingest folder, then run every service on it (embedded bus) until
# nothing has happened for 3 s, and print the summary.
demo: $(STAMP)
	rm -rf demo
	$(BIN)/streamcal simulate --program demo --out demo/ingest --refs demo/refs
	$(BIN)/streamcal run --ingest demo/ingest --products demo/products --refs demo/refs --until-idle 3

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
