# The front door: `make demo` and `make test` each set up everything they need.
# Set-up is stamped so a second run only checks and goes straight on.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SYSTEM_STAMP := $(VENV)/.system-packages
INSTALL_STAMP := $(VENV)/.installed

.PHONY: setup test demo bench clean

setup: $(INSTALL_STAMP)

$(SYSTEM_STAMP): scripts/system-packages.txt scripts/install-system-packages
	scripts/install-system-packages
	@mkdir -p $(VENV)
	@touch $@

$(INSTALL_STAMP): pyproject.toml $(SYSTEM_STAMP)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: setup
	$(BIN)/taxhall demo $(DEMO_ARGS)

bench: setup
	$(BIN)/python bench/bus_latency.py

clean:
	rm -rf $(VENV) .demo build *.egg-info
