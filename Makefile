# asynclab: `make help` lists the targets. Settings come from ASYNCLAB_* variables (asynclab/settings.py).
PYTHON      ?= python3
VENV        ?= .venv
ASYNCLAB    := $(VENV)/bin/asynclab
PROFILE     ?= quick
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install system packages (when missing) and the locked virtual environment
	@scripts/install.sh

.PHONY: up
up: install ## Start the native lab in the background and print its URLs
	@$(ASYNCLAB) up

.PHONY: down
down: ## Stop everything the lab started
	@if [ -x $(ASYNCLAB) ]; then $(ASYNCLAB) down; fi

.PHONY: status
status: ## Show what is running and where
	@$(ASYNCLAB) status

.PHONY: lab
lab: up ## Run the lab and print what to open

.PHONY: test
test: install ## Run lint, types and the whole test suite against real components
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy
	@$(VENV)/bin/pytest $(PYTEST_ARGS)

.PHONY: lint
lint: install ## Format and lint the code
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

.PHONY: bench
bench: install ## Run the benchmark matrix (PROFILE=quick|full) and build the report
	@$(ASYNCLAB) bench --profile $(PROFILE)

.PHONY: report
report: ## Rebuild the report from results/latest
	@$(ASYNCLAB) report

.PHONY: demo
demo: install ## Three acts, live: CPU ties, I/O async wins, blocking in async def loses
	@$(ASYNCLAB) demo
