# simkit: `make demo` (set up + render a small set + quick bench + leaderboard) and `make test`.
# Both are idempotent: the venv is built once per pyproject.toml change, renders resume, demo benches run once.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SIMKIT := $(VENV)/bin/simkit
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo
DEMO_RESULTS ?= out/demo-results

.PHONY: install demo test test-slow lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls several GB of CUDA packages
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: render 10 embedded scenes (8/1/1), check them, bench iid + ours_full quickly, show the board.
# A re-run resumes the render and reuses the bench results (delete $(DEMO_RESULTS) to bench again).
demo: install
	$(SIMKIT) render --out $(DEMO_OUT) --scenes 10 --sets-per-scene 4 --preset fast
	$(SIMKIT) inspect $(DEMO_OUT) --preview $(DEMO_OUT)/preview.png
	test -f $(DEMO_RESULTS)/leaderboard.csv || { \
	  $(SIMKIT) bench --model iid --data $(DEMO_OUT) --results $(DEMO_RESULTS) --quick && \
	  $(SIMKIT) bench --model ours_full --data $(DEMO_OUT) --results $(DEMO_RESULTS) --quick; }
	$(SIMKIT) leaderboard $(DEMO_RESULTS)/leaderboard.csv
	@echo "dataset:     $(abspath $(DEMO_OUT))  (contact sheet of views: $(abspath $(DEMO_OUT))/preview.png)"
	@echo "leaderboard: $(abspath $(DEMO_RESULTS))/leaderboard.csv  (runs in $(abspath $(DEMO_RESULTS))/runs)"

test: install
	$(PY) -m pytest

test-slow: install
	$(PY) -m pytest -m slow

lint: install
	$(VENV)/bin/ruff check simkit tests benchmarks examples

bench: install
	$(PY) benchmarks/bench_render_engine.py
	$(PY) benchmarks/bench_render_split.py
	$(PY) benchmarks/bench_views.py

clean:
	rm -rf out
