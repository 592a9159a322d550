# The two commands of the README. Each creates .venv at the repo root when it is missing.
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-all setup ui clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reelrl demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

test-all: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not gpu"

ui: $(STAMP)
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.reelrl/dagster_home} $(VENV)/bin/reelrl ui

clean:
	rm -rf .reelrl
