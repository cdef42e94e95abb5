# sdrs-cleanup: `make run` and `make test` set up everything they need (uv included).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_VERSION := 3.13

# uv: the one on PATH, else ~/.local/bin/uv, else the module of python3 (`pip install uv` may put its
# script in a directory that is not on PATH; `python3 -m uv` still finds it). Expanded where used,
# so that a uv that `make uv` has just installed is found.
UV = $(or $(shell command -v uv 2>/dev/null),$(wildcard $(HOME)/.local/bin/uv),python3 -m uv)
# Python: a pyenv-installed 3.13 when there is one (pyenv's shims hide it from uv);
# otherwise uv finds, or downloads, a 3.13 itself.
PYENV_ROOT ?= $(or $(shell pyenv root 2>/dev/null),$(HOME)/.pyenv)
PYENV_PYTHON := $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION))))
export UV_PYTHON ?= $(or $(PYENV_PYTHON),$(PYTHON_VERSION))
export UV_PROJECT_ENVIRONMENT ?= .venv
RUN = $(UV) run --frozen

.PHONY: help run test lint typecheck unit fast sync uv clean cfn-lint artifact build-SdrsCleanupFunction validate sam-cli bench bench-sdk print-uv

# The Lambda artifact: for arm64 by default; LAMBDA_PLATFORM=x86_64-manylinux2014 builds one for an x86_64 host.
LAMBDA_PLATFORM ?= aarch64-manylinux2014

# SAM CLI runs from uv's tool cache, outside the project's lock. Fetched once (from PyPI),
# it then runs offline and boxed in: no telemetry, a dummy region and credentials, no
# instance metadata, and a proxy to a closed local port, so that no call can reach AWS.
SAM_CLI_VERSION := 1.170.0
SAM = $(UV) tool run --from aws-sam-cli==$(SAM_CLI_VERSION) sam
NO_AWS := UV_OFFLINE=1 SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=eu-west-1 AWS_ACCESS_KEY_ID=offline \
	AWS_SECRET_ACCESS_KEY=offline AWS_EC2_METADATA_DISABLED=true HTTPS_PROXY=http://127.0.0.1:9 \
	https_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 NO_PROXY= no_proxy=

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

uv: ## install uv with pip if there is none
	@$(UV) --version >/dev/null 2>&1 || { \
		echo "uv not found: installing it with pip (python3 -m pip install --user uv)" >&2; \
		python3 -m pip install --quiet --user uv || python3 -m pip install --quiet --user --break-system-packages uv \
			|| true; }
	@$(UV) --version >/dev/null || { echo "uv is still not usable: install it (https://docs.astral.sh/uv/)" >&2; exit 1; }

print-uv: ## how uv is run here
	@echo '$(UV)'

.venv/.synced: pyproject.toml uv.lock | uv
	$(UV) sync --frozen
	@touch $@

sync: .venv/.synced ## create .venv from uv.lock

run: .venv/.synced ## invoke the handler on a sample alarm event against the built-in SDRS emulator
	$(RUN) sdrs-cleanup invoke events/sns-alarm.json --emulator

lint: .venv/.synced cfn-lint ## ruff (lint and format) and cfn-lint
	$(RUN) ruff check .
	$(RUN) ruff format --check .

cfn-lint: .venv/.synced
	$(RUN) cfn-lint template.yaml

typecheck: .venv/.synced ## mypy --strict
	$(RUN) mypy

unit: .venv/.synced ## the tests only
	$(RUN) pytest

fast: .venv/.synced ## the inner loop: everything but the slow loopback suites (servers, subprocesses, builds)
	$(RUN) pytest -m "not slow"

test: lint typecheck unit validate ## everything CI runs

bench: .venv/.synced ## sweep benchmark against the emulator (about a minute); writes BENCHMARKS.md
	$(RUN) python bench/sweep_benchmark.py

# The official SDK is in the `bench` dependency group only: never in the function or its tests.
bench-sdk: | uv ## ours against a twin on the official SDK (a few minutes); writes its section of BENCHMARKS.md
	$(UV) sync --frozen --group bench
	$(RUN) --group bench python bench/sdk_benchmark.py $(BENCH_SDK_ARGS)

# `sam build` (BuildMethod: makefile) calls this with ARTIFACTS_DIR: the handler package
# without handler/local, the locked runtime dependencies as wheels for LAMBDA_PLATFORM, and
# bytecode that stays valid whatever timestamps the zip gives the sources.
build-SdrsCleanupFunction: | uv
	@test -n "$(ARTIFACTS_DIR)" || { echo "usage: make build-SdrsCleanupFunction ARTIFACTS_DIR=DIR" >&2; exit 2; }
	mkdir -p "$(ARTIFACTS_DIR)"
	requirements=$$(mktemp) && trap 'rm -f "$$requirements"' EXIT && \
	$(UV) export --frozen --no-dev --no-emit-project --no-hashes --quiet --output-file "$$requirements" && \
	$(UV) pip install --quiet --target "$(ARTIFACTS_DIR)" --python-version $(PYTHON_VERSION) \
		--python-platform $(LAMBDA_PLATFORM) --only-binary :all: --no-deps --link-mode copy -r "$$requirements"
	rm -rf "$(ARTIFACTS_DIR)/handler" "$(ARTIFACTS_DIR)/bin"
	find "$(ARTIFACTS_DIR)" -mindepth 2 -maxdepth 2 -type d -name tests -exec rm -rf {} +
	# Never imported by the function: anyio (httpcore's async side), Powertools' event handler
	# (API Gateway routing) and batch utility (the core answers SQS batches itself). A smaller zip
	# is a faster cold start to fetch; test_artifact proves it runs.
	rm -rf "$(ARTIFACTS_DIR)"/anyio "$(ARTIFACTS_DIR)"/anyio-*.dist-info "$(ARTIFACTS_DIR)/aws_lambda_powertools/event_handler" \
		"$(ARTIFACTS_DIR)/aws_lambda_powertools/utilities/batch"
	tar -cf - --exclude=handler/local --exclude=__pycache__ handler | tar -xf - -C "$(ARTIFACTS_DIR)"
	$(UV) run --no-project python -m compileall -q -j0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)"

artifact: | uv ## build/artifact and build/sdrs-cleanup.zip: the Lambda code, for arm64
	rm -rf build/artifact build/sdrs-cleanup.zip
	$(MAKE) --no-print-directory build-SdrsCleanupFunction ARTIFACTS_DIR=$(CURDIR)/build/artifact
	$(UV) run --no-project python -c \
		"import shutil; shutil.make_archive('build/sdrs-cleanup', 'zip', 'build/artifact')"
	@du -sh build/artifact build/sdrs-cleanup.zip

sam-cli: | uv
	@$(SAM) --version

# `artifact` first: it fills uv's cache with the arm64 wheels that the offline `sam build` installs.
validate: cfn-lint artifact sam-cli ## cfn-lint, sam validate --lint and sam build, offline
	$(NO_AWS) $(SAM) validate --lint
	$(NO_AWS) $(SAM) build --build-in-source

clean: ## remove build output and the virtual environment
	rm -rf .venv build .aws-sam .pytest_cache .mypy_cache .ruff_cache
