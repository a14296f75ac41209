# The project's two entry points: `make demo` (the main job) and `make test` (the test suite).
# Both create a virtual environment in $(VENV) on first use and install sspd into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.sspd-installed
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: setup demo test test-slow bench clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml tools/install-torch.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	bash tools/install-torch.sh $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: setup
	$(BIN)/sspd demo $(DEMO_ARGS)

test: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

bench: setup
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
