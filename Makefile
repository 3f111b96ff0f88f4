# The README's two commands: `make run` and `make test`. Both set everything up themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PIP    := $(BIN)/python -m pip

.PHONY: help setup run test test-slow lint bench bench-recipe screenshots demo clean

help:
	@echo "make run          set up .venv and open the app on the built-in demo dataset"
	@echo "make test         set up .venv and run the test suite headless"
	@echo "make test-slow    also run the slow tests"
	@echo "make lint         ruff check + format check"
	@echo "make bench        run the benchmarks (prints ratios)"
	@echo "make bench-recipe time to accuracy: tutorial recipe vs our defaults, 3 sets x 3 seeds (~30 min)"
	@echo "make screenshots  regenerate assets/screenshots/*.png (needs Xvfb)"
	@echo "make demo         headless demo: demo data, 1 epoch, predict one image"

# Re-installs only when pyproject.toml or constraints.txt change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/resnet-gui

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

test-slow: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m ""

lint: setup
	$(BIN)/ruff check resnet_gui tests benchmarks scripts
	$(BIN)/ruff format --check resnet_gui tests benchmarks scripts

bench: setup
	$(BIN)/python benchmarks/run_all.py

bench-recipe: setup
	nice -n 10 $(BIN)/python benchmarks/recipe_compare.py --time-to-accuracy --fill --json benchmarks/results/recipe_time.json

screenshots: setup
	$(BIN)/python scripts/screenshots.py

demo: setup
	$(BIN)/resnet-gui demo-data /tmp/resnet-gui-demo --per-class 40 --size 64
	$(BIN)/resnet-gui train /tmp/resnet-gui-demo --epochs 1 --img-size 64 --out /tmp/resnet-gui-runs --json > /tmp/resnet-gui-train.json
	$(BIN)/resnet-gui predict $$($(BIN)/python -c "import json;print(json.load(open('/tmp/resnet-gui-train.json'))['checkpoint'])") /tmp/resnet-gui-demo/circle/circle_0000.png

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
