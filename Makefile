# Two commands do everything: `make reproduce` and `make test`. Each creates .venv if missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick
ONLY ?=

.PHONY: venv reproduce report test lab bench strip clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 --display-name "audiolib (.venv)" >/dev/null
	touch $(STAMP)

reproduce: venv
	$(PY) -m audiolib.run --profile $(PROFILE) $(if $(ONLY),--only $(ONLY),)
	$(PY) -m audiolib.report

report: venv
	$(PY) -m audiolib.report

test: venv
	$(PY) -m pytest -q --durations=15

lab: venv
	$(VENV)/bin/jupyter lab notebooks/

bench: venv
	$(PY) -m benchmarks

strip: venv
	$(VENV)/bin/nbstripout notebooks/*.ipynb

clean-venv:
	rm -rf $(VENV)
