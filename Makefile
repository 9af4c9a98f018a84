# habla: `make run` sets everything up and transcribes sample audio; `make test` sets up and runs the tests.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
SAMPLES ?= ../shared/testdata/speech/librivox-0870.flac ../shared/testdata/speech/ast-es-vm-login.flac
OUT     ?= out

.PHONY: setup run lint test test-slow test-system test-all bench clean

$(BIN)/habla: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	@touch $@

setup: $(BIN)/habla

run: setup
	$(BIN)/habla transcribe $(SAMPLES) --output-dir $(OUT) --output-format all --verbose
	@echo "transcripts written to $(OUT)/"

# ruff, mypy and the import-layer contracts ([tool.ruff], [tool.mypy], [tool.importlinter] in pyproject.toml).
lint: setup
	$(BIN)/ruff check habla
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup lint
	$(BIN)/python -m pytest -m "not system and not slow" -q tests

test-slow: setup
	$(BIN)/python -m pytest -m "slow and not system" -q tests

test-system: setup
	bash scripts/services.sh start
	$(BIN)/python -m pytest -m system -q tests; rc=$$?; bash scripts/services.sh stop; exit $$rc

test-all: test test-slow test-system

bench: setup
	$(BIN)/habla bench ../shared/testdata/speech --json bench-results/bench.json

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
