# molpeft: `make demo` runs the main job (the quick study) offline on the bundled defaults; `make test` runs the
# tests (after `ruff check`, so CI lints too). Both build .venv first (idempotent) with the CPU build of PyTorch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= artifacts/quick
PROFILE ?= quick
POOL ?=
# two worker processes of one thread each: the small model gains little from a second thread, two cells at once do
JOBS ?= 2
TORCH_PIN ?= torch==2.13.0

.PHONY: venv demo test browser lint clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[dev,cluster]"
	touch $@

demo: venv
	$(BIN)/molpeft --threads 1 run --profile $(PROFILE) --jobs $(JOBS) -o $(OUT) $(if $(POOL),--pool $(POOL))
	@echo "report: $(OUT)/report/report.html (and report.md)" >&2

# The report-rendering test needs headless Chromium; CI (CI=true, root) installs Debian's package, elsewhere the
# test skips with a message when chromium is absent.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$${CI:-}" = "true" ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

test: venv browser lint
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check molpeft_cli tests bench tools

clean:
	rm -rf artifacts .pytest_cache
