# The two commands of the README. Each creates .venv at the repo root when it is missing.
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow setup ui clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reelrl demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

# End-to-end tests marked slow (the graph launched through `dagster dev`'s GraphQL API, ...).
test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

ui: $(STAMP)
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.reelrl/dagster_home} $(VENV)/bin/reelrl ui

clean:
	rm -rf .reelrl
