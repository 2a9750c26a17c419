# The two commands a newcomer runs (README): `make demo` and `make test`. Each creates .venv and installs
# what it needs, so they work on a fresh machine that has only Python >= 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest policy clean

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

# checkov on the chart rendered with its default and its full values (helm/streamcal/ci). checkov pins
# packaging<24, networkx<2.7 and importlib-metadata<8, which astropy, pytest and scikit-image cannot live with,
# so it gets a venv of its own inside .venv; accepted findings carry a checkov.io/skip annotation with a reason.
POLICY_VENV := $(VENV)/policy
CHECKOV     := checkov==3.3.30

$(POLICY_VENV)/.installed:
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/python -m pip install --quiet '$(CHECKOV)'
	@touch $@

policy: $(STAMP) $(POLICY_VENV)/.installed
	rm -rf $(VENV)/rendered
	$(BIN)/python helm/streamcal/ci/render.py $(VENV)/rendered
	$(POLICY_VENV)/bin/checkov --quiet --compact --skip-download --framework kubernetes -d $(VENV)/rendered/default
	$(POLICY_VENV)/bin/checkov --quiet --compact --skip-download --framework kubernetes -d $(VENV)/rendered/full

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
