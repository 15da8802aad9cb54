# Two commands on a fresh machine: `make experiments` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
GRID   ?= experiments/configs/default.toml
OUT    ?= results
WORKERS ?= 2
EXTRAS ?= dev,ray

.PHONY: all experiments report test bench lint clean

all: test

# Re-install only when pyproject.toml changes (or the extras asked for do).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	echo "$(EXTRAS)" > $(STAMP)

$(VENV): $(STAMP)

# Trains the grid (resumes); `run` ends by writing summary.csv, plots/ and the report.
experiments: $(STAMP)
	$(PY) -m experiments run $(GRID) --out $(OUT) --workers $(WORKERS)
	@echo "Open $(OUT)/$$(basename $(GRID) .toml)/report.html (or report.md)"

# Re-draws summary.csv, plots/ and the report from existing records, without training.
report: $(STAMP)
	$(PY) -m experiments report $(OUT)/$$(basename $(GRID) .toml)

# Both cores (pytest-xdist; a test file stays on one worker, so its module fixtures run once), and
# the 20 slowest tests at the end, so a change sees what it costs.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=20 tests

bench: $(STAMP)
	$(PY) -m experiments bench --out $(OUT)/bench

lint: $(STAMP)
	$(PY) -m ruff check custom_layers experiments tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
