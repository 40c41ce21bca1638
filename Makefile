# Two commands do everything on a fresh clone (Debian, Python 3.11, node 20):
#   make run    install, then start JupyterLab with the embedded default model (offline)
#   make test   install, then every check: ruff, mypy, tsc --strict, eslint, pytest, real browser
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(abspath $(BIN)):$(PATH)
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: run test install lint pytest chromium clean

run: install
	$(BIN)/transpector lab

test: install chromium lint pytest

install: $(VENV)/.installed transpector/labextension/package.json

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.yarn-state.yml: package.json yarn.lock $(VENV)/.installed
	$(BIN)/jlpm install
	touch $@

TS_SOURCES := $(shell find labextension -name '*.ts' -o -name '*.tsx') $(wildcard style/*)

# The production build (minified React, as in the wheel); develop: Jupyter serves the build
# folder itself, not the copy pip made at install time.
transpector/labextension/package.json: node_modules/.yarn-state.yml tsconfig.json $(TS_SOURCES)
	$(BIN)/jlpm build:prod
	$(BIN)/jupyter labextension develop --overwrite .

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/jlpm lint
	$(BIN)/jlpm vitest run

pytest: install
	$(BIN)/pytest

clean:
	rm -rf $(VENV) node_modules lib transpector/labextension tsconfig.tsbuildinfo
