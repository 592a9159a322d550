# The two commands of the README. Each creates .venv at the repo root when it is missing.
VENV := .venv
STAMP := $(VENV)/.installed
# The vLLM environment (vLLM's CPU build beside the project), apart so the main .venv stays CUDA-free.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: demo test test-slow setup ui clean setup-vllm test-vllm

$(STAMP): pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh

$(VLLM_STAMP): pyproject.toml scripts/setup_vllm.sh scripts/vllm_env/torchvision_cpu_shim.py
	bash scripts/setup_vllm.sh

setup-vllm: $(VLLM_STAMP)

# vLLM engines against the HF engine and the trainer, and the tests that need torchvision.
test-vllm: $(VLLM_STAMP)
	REELRL_REQUIRE_VLLM=1 $(VLLM_VENV)/bin/python -m pytest -q -m "vllm or needs_torchvision"

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reelrl demo

# ruff, then the import contract (pyproject's [tool.importlinter]: layers, dagster, pure math), then the suite.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(VENV)/bin/python -m pytest -q

# End-to-end tests marked slow (the graph launched through `dagster dev`'s GraphQL API, ...).
test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

ui: $(STAMP)
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.reelrl/dagster_home} $(VENV)/bin/reelrl ui

clean:
	rm -rf .reelrl
