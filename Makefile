# The two commands of the README: `make demo` and `make test`.
# Each creates the virtual environment .venv on first use and reuses it after.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
SAMPLE  = data/sample

.PHONY: demo test lint bench-validate clean-venv

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip install --python $(BIN)/python -e '.[dev,spark]' \
	  || $(BIN)/python -m pip install -e '.[dev,spark]'
	touch $(STAMP)

## demo: the main job on the embedded default: validate the committed sample, then train,
## evaluate and log the quickstart experiment to MLflow on the local SQLite file mlflow.db
demo: $(STAMP)
	$(BIN)/shequn-ml validate $(SAMPLE)/events.parquet \
	  --members $(SAMPLE)/members.parquet --groups $(SAMPLE)/groups.parquet
	$(BIN)/shequn-ml train experiments/quickstart.yaml

## test: lint, then the whole test suite (doctests included)
test: $(STAMP)
	$(BIN)/ruff check shequn_ml tests benchmarks
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check shequn_ml tests benchmarks

bench-validate: $(STAMP)
	$(BIN)/python benchmarks/bench_validate.py

clean-venv:
	rm -rf $(VENV)
