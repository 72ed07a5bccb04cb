# molpeft: `make demo` runs the main job offline on the bundled defaults; `make test` runs the test suite.
# Both build .venv first (idempotent) with the CPU build of PyTorch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= artifacts/demo
POOL ?= ../shared/data/external_task2.csv
TORCH_PIN ?= torch==2.13.0

.PHONY: venv demo test lint clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: venv
	$(BIN)/molpeft data lipophilicity -o $(OUT)/molecules.parquet --rejects $(OUT)/rejects.parquet
	$(BIN)/molpeft split $(OUT)/molecules.parquet --strategy scaffold -o $(OUT)/split.parquet \
		--summary $(OUT)/split_summary.json
	@if [ -f "$(POOL)" ]; then \
		$(BIN)/molpeft audit $(OUT)/split.parquet "$(POOL)" -o $(OUT)/audit.parquet --summary $(OUT)/audit.json; \
	else \
		echo "skipping the leakage audit: no pool file at $(POOL) (set POOL=path/to/pool.csv)" >&2; \
	fi
	@echo "demo outputs are in $(OUT)/ (split_summary.json, audit.json)" >&2

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check molpeft_cli tests bench

clean:
	rm -rf artifacts .pytest_cache
