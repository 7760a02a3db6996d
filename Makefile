# asynclab: `make help` lists the targets. Settings come from ASYNCLAB_* variables (asynclab/settings.py).
PYTHON      ?= python3
VENV        ?= .venv
ASYNCLAB    := $(VENV)/bin/asynclab
PROFILE     ?= quick
PYTEST_ARGS ?=
STATE_DIR   ?= $(or $(ASYNCLAB_STATE_DIR),.state)
# "compose" when a Docker engine answers, else "native"; the script says why on stderr.
LAB_MODE     = $(shell scripts/lab_mode.sh)
# What `make clean` removes besides the lab's data.
CACHES      ?= .pytest_cache .mypy_cache .ruff_cache test-artifacts

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install system packages (when missing) and the locked virtual environment
	@scripts/install.sh

.PHONY: lab
lab: ## Run the lab (Docker Compose when an engine answers, else native) and print what to open
	@if [ "$(LAB_MODE)" = compose ]; then scripts/compose.sh up; else $(MAKE) --no-print-directory up; fi

.PHONY: up
up: install ## Start the native lab in the background (or restart what of it died) and print its URLs
	@$(ASYNCLAB) up

.PHONY: down
down: ## Stop everything the lab started (compose or native)
	@if [ "$(LAB_MODE)" = compose ]; then scripts/compose.sh down; fi
	@if [ -x $(ASYNCLAB) ]; then $(ASYNCLAB) down; fi

.PHONY: status
status: ## Show what is running and where
	@$(ASYNCLAB) status

.PHONY: logs
logs: ## Follow the lab's logs (compose: every container; native: .state/logs)
	@if [ "$(LAB_MODE)" = compose ]; then scripts/compose.sh logs; \
	else tail -n 20 -F $(STATE_DIR)/logs/*.log; fi

.PHONY: clean
clean: down ## Stop the lab and remove its data: containers, volumes, images, .state and caches (results/ is kept)
	@if [ "$(LAB_MODE)" = compose ]; then scripts/compose.sh clean; fi
	@rm -rf $(STATE_DIR) $(CACHES)

.PHONY: install-engine
install-engine: ## Also install what the engine test needs when missing (docker.io, mmdebstrap)
	@scripts/install.sh --engine

.PHONY: test
test: install-engine ## Run lint, types and the whole test suite against real components
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy
	@VENV=$(VENV) scripts/test.sh $(PYTEST_ARGS)

.PHONY: lint
lint: install ## Format and lint the code
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

.PHONY: bench
bench: install ## Run the benchmark matrix (PROFILE=quick|full|servers|parity|connections) and build the report
	@if [ "$(LAB_MODE)" = compose ]; then scripts/compose.sh bench --profile $(PROFILE); \
	else $(ASYNCLAB) bench --profile $(PROFILE); fi

.PHONY: bench-overhead
bench-overhead: install ## Measure what the Prometheus instrumentation costs (metrics on vs off, ~15 min)
	@$(VENV)/bin/python scripts/bench_metrics_overhead.py

.PHONY: bench-techempower
bench-techempower: install ## Our FastAPI against TechEmpower's, route by route (TECHEMPOWER=checkout; ~8 min)
	@$(VENV)/bin/python scripts/bench_techempower.py

.PHONY: bench-instructions
bench-instructions: install ## CPU instructions per request, metrics on vs off, under callgrind (~6 min)
	@$(VENV)/bin/python scripts/bench_metrics_instructions.py

.PHONY: bench-reliability
bench-reliability: install ## Postgres outages under load and what durable commits cost, every variant (~20 min)
	@$(VENV)/bin/python scripts/bench_reliability.py

.PHONY: report
report: ## Rebuild the report from results/latest
	@$(ASYNCLAB) report

.PHONY: demo
demo: install ## Three acts, live: CPU ties, I/O async wins, blocking in async def loses
	@$(ASYNCLAB) demo
