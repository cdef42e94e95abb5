# sdrs-cleanup: `make run` and `make test` set up everything they need (uv included).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_VERSION := 3.13

# uv: the one on PATH, else one installed into ~/.local/bin by `make uv`.
UV := $(or $(shell command -v uv 2>/dev/null),$(HOME)/.local/bin/uv)
# Python: a pyenv-installed 3.13 when there is one (pyenv's shims hide it from uv);
# otherwise uv finds, or downloads, a 3.13 itself.
PYENV_ROOT ?= $(or $(shell pyenv root 2>/dev/null),$(HOME)/.pyenv)
PYENV_PYTHON := $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION))))
export UV_PYTHON ?= $(or $(PYENV_PYTHON),$(PYTHON_VERSION))
export UV_PROJECT_ENVIRONMENT ?= .venv
RUN := $(UV) run --frozen

.PHONY: help run test lint typecheck unit sync uv clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	@echo "uv not found: installing it with pip into ~/.local/bin" >&2
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet --user --break-system-packages uv

uv: $(UV) ## install uv if missing

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

sync: .venv/.synced ## create .venv from uv.lock

run: .venv/.synced ## invoke the handler on a sample alarm event against the built-in SDRS emulator
	$(RUN) sdrs-cleanup invoke events/sns-alarm.json --emulator

lint: .venv/.synced ## ruff (lint and format) and cfn-lint
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: .venv/.synced ## mypy --strict
	$(RUN) mypy

unit: .venv/.synced ## the tests only
	$(RUN) pytest

test: lint typecheck unit ## everything CI runs

clean: ## remove build output and the virtual environment
	rm -rf .venv build .aws-sam .pytest_cache .mypy_cache .ruff_cache
