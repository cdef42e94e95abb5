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

.PHONY: help run test lint typecheck unit unit-py312 fast sync uv clean cfn-lint artifact build-SdrsCleanupFunction functiongraph-package validate sam-cli bench bench-sdk print-uv

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
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-21s %s\n", $$1, $$2}'

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

# The tests again on Python 3.12 (FunctionGraph's runtime), in .venv-py312 from the same uv.lock.
.venv-py312/.synced: pyproject.toml uv.lock | uv
	UV_PROJECT_ENVIRONMENT=.venv-py312 UV_PYTHON="$(PYTHON_312)" $(UV) sync --frozen
	@touch $@

unit-py312: .venv-py312/.synced ## the tests on Python 3.12 (the 3.13 Lambda artifact's are skipped there)
	UV_PROJECT_ENVIRONMENT=.venv-py312 UV_PYTHON="$(PYTHON_312)" $(RUN) pytest

test: lint typecheck unit unit-py312 validate ## everything CI runs

bench: .venv/.synced ## sweep benchmark against the emulator (about a minute); writes BENCHMARKS.md
	$(RUN) python bench/sweep_benchmark.py

# The official SDK is in the `bench` dependency group only: never in the function or its tests.
bench-sdk: | uv ## ours against a twin on the official SDK (a few minutes); writes its section of BENCHMARKS.md
	$(UV) sync --frozen --group bench
	$(RUN) --group bench python bench/sdk_benchmark.py $(BENCH_SDK_ARGS)

# The function's code for a platform, into $(1): the handler package without handler/local, the
# locked runtime dependencies as wheels for platform $(3) and Python $(2), and bytecode compiled by
# the interpreter $(4) (pyc files are version-specific), valid whatever timestamps the zip gives the
# sources. $(5) non-empty: also the CA certificates as an OpenSSL hashed directory (handler/sdrs/ca,
# by handler/local/ca_directory.py; a TLS context then reads only the issuer a handshake needs; no
# openssl on the build host: nothing is written and the function loads certifi's bundle).
define build_function
	@test -n "$(1)" || { echo "no output directory given" >&2; exit 2; }
	mkdir -p "$(1)"
	requirements=$$(mktemp) && trap 'rm -f "$$requirements"' EXIT && \
	$(UV) export --frozen --no-dev --no-emit-project --no-hashes --quiet --output-file "$$requirements" && \
	$(UV) pip install --quiet --target "$(1)" --python-version $(2) \
		--python-platform $(3) --only-binary :all: --no-deps --link-mode copy -r "$$requirements"
	rm -rf "$(1)/handler" "$(1)/bin"
	find "$(1)" -mindepth 2 -maxdepth 2 -type d -name tests -exec rm -rf {} +
	# Never imported by the function: anyio (httpcore's async side), Powertools' event handler
	# (API Gateway routing) and batch utility (the core answers SQS batches itself). Logger and
	# Metrics import neither. A smaller zip is a faster cold start to fetch; test_artifact and
	# test_functiongraph_package prove it runs.
	rm -rf "$(1)"/anyio "$(1)"/anyio-*.dist-info "$(1)/aws_lambda_powertools/event_handler" \
		"$(1)/aws_lambda_powertools/utilities/batch"
	tar -cf - --exclude=handler/local --exclude=__pycache__ --exclude=handler/sdrs/ca handler | tar -xf - -C "$(1)"
	$(if $(5),$(UV) run --no-project python handler/local/ca_directory.py "$(1)/certifi/cacert.pem" "$(1)/handler/sdrs/ca")
	$(UV) run --no-project --python "$(4)" python -m compileall -q -j0 --invalidation-mode unchecked-hash "$(1)"
endef

# `sam build` (BuildMethod: makefile) calls this with ARTIFACTS_DIR: the Lambda code, Python 3.13.
build-SdrsCleanupFunction: | uv
	@test -n "$(ARTIFACTS_DIR)" || { echo "usage: make build-SdrsCleanupFunction ARTIFACTS_DIR=DIR" >&2; exit 2; }
	$(call build_function,$(ARTIFACTS_DIR),$(PYTHON_VERSION),$(LAMBDA_PLATFORM),$(UV_PYTHON),ca)

artifact: | uv ## build/artifact and build/sdrs-cleanup.zip: the Lambda code, for arm64
	rm -rf build/artifact build/sdrs-cleanup.zip
	$(MAKE) --no-print-directory build-SdrsCleanupFunction ARTIFACTS_DIR=$(CURDIR)/build/artifact
	$(UV) run --no-project python -c \
		"import shutil; shutil.make_archive('build/sdrs-cleanup', 'zip', 'build/artifact')"
	@du -sh build/artifact build/sdrs-cleanup.zip

# FunctionGraph: its newest Python runtime is 3.12, on x86_64 unless FUNCTIONGRAPH_PLATFORM says
# otherwise (aarch64-manylinux2014 for an arm64 host); the bytecode is compiled by a 3.12, found as
# the 3.13 is: pyenv's newest 3.12.x, else whatever 3.12 uv finds. FUNCTIONGRAPH_DIR: where it goes
# (the zip beside it, DIR.zip, with the files at its root: the handler is handler.functiongraph.handler).
FUNCTIONGRAPH_PLATFORM ?= x86_64-manylinux2014
FUNCTIONGRAPH_PYTHON_VERSION := 3.12
PYENV_PYTHON_312 := $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/$(FUNCTIONGRAPH_PYTHON_VERSION).*/bin/python$(FUNCTIONGRAPH_PYTHON_VERSION))))
PYTHON_312 ?= $(or $(PYENV_PYTHON_312),$(FUNCTIONGRAPH_PYTHON_VERSION))
FUNCTIONGRAPH_DIR ?= $(CURDIR)/build/functiongraph

functiongraph-package: | uv ## build/functiongraph.zip: the FunctionGraph code (Python 3.12, x86_64)
	@test -n "$(FUNCTIONGRAPH_DIR)" || { echo "usage: make functiongraph-package [FUNCTIONGRAPH_DIR=DIR]" >&2; exit 2; }
	rm -rf "$(FUNCTIONGRAPH_DIR)" "$(FUNCTIONGRAPH_DIR).zip"
	$(call build_function,$(FUNCTIONGRAPH_DIR),$(FUNCTIONGRAPH_PYTHON_VERSION),$(FUNCTIONGRAPH_PLATFORM),$(PYTHON_312),ca)
	$(UV) run --no-project python -c \
		"import shutil, sys; shutil.make_archive(sys.argv[1], 'zip', sys.argv[1])" "$(FUNCTIONGRAPH_DIR)"
	@du -sh "$(FUNCTIONGRAPH_DIR)" "$(FUNCTIONGRAPH_DIR).zip"
	@echo "$(FUNCTIONGRAPH_DIR).zip: $$(wc -c < "$(FUNCTIONGRAPH_DIR).zip") bytes (FunctionGraph takes up to 52428800 inline)"

sam-cli: | uv
	@$(SAM) --version

# `artifact` first: it fills uv's cache with the arm64 wheels that the offline `sam build` installs.
validate: cfn-lint artifact sam-cli ## cfn-lint, sam validate --lint and sam build, offline
	$(NO_AWS) $(SAM) validate --lint
	$(NO_AWS) $(SAM) build --build-in-source

clean: ## remove build output and the virtual environment
	rm -rf .venv .venv-py312 build .aws-sam .pytest_cache .mypy_cache .ruff_cache
