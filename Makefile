# One entry point per README command. The environment lives in .venv at the repository root.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint

$(BIN)/ganflow: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --no-cache-dir --upgrade pip
	$(BIN)/pip install -q --no-cache-dir -c constraints.txt -e ".[dev]"
	$(BIN)/python -c "import torch, torchvision, prefect; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'prefect', prefect.__version__)"
	touch $@

setup: $(BIN)/ganflow

demo: setup
	$(BIN)/ganflow semi-supervised

test: setup
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
