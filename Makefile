# The front door: `make demo` and `make test` each set up everything they need.
# Set-up is stamped so a second run only checks and goes straight on.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SYSTEM_STAMP := $(VENV)/.system-packages
INSTALL_STAMP := $(VENV)/.installed

.PHONY: setup test demo demo-morning bench clean

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

# The scripted morning without a screen: printouts, LED frames, voice and screenshots in .demo/out
demo-morning: setup
	$(BIN)/taxhall demo --headless --out .demo/out

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .demo build *.egg-info
