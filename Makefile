# driftloop — the list of things a person does. `make` (or `make help`) prints it.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif
RUN := $(UV) run --frozen
export MLFLOW_DISABLE_TELEMETRY ?= true
export DO_NOT_TRACK ?= true

REGISTRY ?= localhost:5001
TAG ?= dev
PLATFORM ?=
OVERLAY ?= deploy/overlays/dev
# PLATFORM empty: docker builds for the host's platform (kind runs images of the host's).
PLATFORM_FLAG = $(if $(PLATFORM),--platform $(PLATFORM))
PYTEST_ARGS ?=
# test files run in parallel, one whole file per worker (module fixtures start servers)
PYTEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install lint format test test-fast run-data-preparation run-model-training run-evaluate \
	run-fastapi run-detect run-retrain demo bench mlflow-ui clean images images-push \
	dev-secrets deploy manifests manifests-check cluster-sim cluster-sim-test cluster-e2e

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}'

# --compile-bytecode: every command starts from .pyc files even where PYTHONDONTWRITEBYTECODE
# is set (then nothing would ever be cached, and each `driftloop` run would spend ~1 s
# compiling its dependencies); the image does the same (UV_COMPILE_BYTECODE=1).
.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: .venv/.installed ## Install driftloop and its dev tools into .venv (bootstraps uv)

lint: install ## Ruff, mypy and the layer contracts (import-linter)
	$(RUN) ruff check src tests benchmarks
	$(RUN) ruff format --check src tests benchmarks
	$(RUN) mypy src
	$(RUN) lint-imports

format: install ## Format the code
	$(RUN) ruff format src tests benchmarks
	$(RUN) ruff check --fix src tests benchmarks

test: install ## Run the whole test suite (what CI runs)
	$(RUN) pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: install ## Unit and component tests only (no end-to-end, browser or cluster-sim runs)
	$(RUN) pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not e2e and not browser" $(PYTEST_ARGS)

run-data-preparation: install ## Prepare the demo data set (configs/telco.yaml)
	$(RUN) driftloop prepare

run-model-training: install ## Train the candidates, register the best as champion
	$(RUN) driftloop train

run-evaluate: install ## Score the champion on the test split
	$(RUN) driftloop evaluate --alias champion

run-fastapi: install ## Serve the champion on http://127.0.0.1:8000 (docs at /docs)
	$(RUN) driftloop serve

run-detect: install ## Check the inference log for drift (exit 3 when a retrain is due)
	$(RUN) driftloop detect

run-retrain: install ## Retrain on the local state folder's data, gate, promote
	$(RUN) driftloop retrain --model-dir .driftloop/retrain

demo: install ## Run the whole loop locally, from nothing (about 2 minutes)
	$(RUN) driftloop demo

images: ## Build the driftloop, MLServer and MLflow images for this machine (TAG=dev; PLATFORM=linux/amd64 to cross-build)
	docker build $(PLATFORM_FLAG) -f docker/driftloop/Dockerfile -t driftloop:$(TAG) .
	docker build $(PLATFORM_FLAG) -t driftloop-mlserver:$(TAG) docker/mlserver
	docker build $(PLATFORM_FLAG) -t driftloop-mlflow:$(TAG) docker/mlflow

images-push: ## Tag and push the images to $(REGISTRY)
	for i in driftloop driftloop-mlserver driftloop-mlflow; do \
	  docker tag $$i:$(TAG) $(REGISTRY)/$$i:$(TAG) && docker push $(REGISTRY)/$$i:$(TAG); done

dev-secrets: ## Write deploy/overlays/dev/secrets/*.env with random values (git-ignored)
	deploy/overlays/dev/make-secrets.sh

deploy: install ## Apply an overlay to the current kubectl context (OVERLAY=deploy/overlays/dev)
	$(RUN) kubectl apply -k $(OVERLAY)

manifests: install ## Regenerate the Argo WorkflowTemplate YAML from its Hera code
	$(RUN) python -m driftloop_cluster.workflow

manifests-check: install ## Render, validate and dry-run every manifest (no cluster needed)
	$(RUN) python -m driftloop_cluster.check

cluster-sim: install ## Run the rendered dev overlay as local processes, drive the loop, print the table
	$(RUN) python -m driftloop_cluster.sim

cluster-sim-test: install ## The same, as the end-to-end test (pytest -m cluster_sim)
	$(RUN) pytest -m cluster_sim $(PYTEST_ARGS)

cluster-e2e: install ## The same scenario on a kind cluster (needs docker, kind, kubectl; see docs/deploy.md)
	deploy/kind/cluster-e2e.sh

mlflow-ui: install ## Open MLflow on the local state folder (http://127.0.0.1:5000)
	$(RUN) mlflow ui --backend-store-uri sqlite:///$(CURDIR)/.driftloop/mlflow.db --host 127.0.0.1 --port 5000

clean: ## Remove the local state folder
	rm -rf .driftloop
