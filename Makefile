# The course's commands. `make lab` opens the course, `make test` runs every test.
# Both create the virtual environment .venv from requirements.txt first if it is missing or stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
LESSONS := $(sort $(wildcard notebooks/*.ipynb))
SOLUTIONS := $(sort $(wildcard solutions/*.ipynb))

.PHONY: setup lab test unit execute exercises bench book clean notebook-files

setup: $(READY)

$(READY): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(READY)

# Jupyter refuses to run as root (containers, cloud machines) unless told it may.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# The repository is the server's root, so the links between lessons, exercises and solutions
# (../exercises/..., ../solutions/...) resolve; lesson 00 opens first. tests/test_browser.py starts the
# server with these same arguments.
LAB_ARGS := --ServerApp.root_dir=. notebooks/00_start_here.ipynb

lab: setup  ## open the course in JupyterLab, at lesson 00
	$(BIN)/jupyter lab $(ALLOW_ROOT) $(LAB_ARGS)

# Notebooks run in JOBS pytest-xdist workers (`make test JOBS=2`); --dist loadfile keeps each notebook's
# cells in one worker, in order. The default, 0, runs everything in this process, one after another.
JOBS ?= 0

test: setup  ## pre-train the shared checkpoints once, then unit tests and every notebook re-run with nbval
	# Both pre-trained models are trained (or found cached) once, before any notebook asks for them, so
	# parallel workers never train the same checkpoint at the same time.
	$(BIN)/python -m utils.pretraining
	$(BIN)/python -m utils.causal_lm
	$(BIN)/python -m pytest tests notebooks solutions exercises --nbval-lax --durations=5 \
		$(if $(filter-out 0,$(JOBS)),-n $(JOBS) --dist loadfile,)

unit: setup  ## unit tests only (seconds)
	$(BIN)/python -m pytest tests

execute: setup  ## re-run lessons and solutions in place so their stored outputs are fresh
	# Progress bars are switched off in the stored outputs: a frozen bar reads badly on GitHub.
	for nb in $(LESSONS) $(SOLUTIONS); do \
		TQDM_DISABLE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=900 $$nb || exit 1; \
	done

exercises: setup  ## write exercises/ from solutions/ (answer regions become stubs)
	$(BIN)/python -m utils.grading.generate

notebook-files: setup  ## every notebook's badge, Colab set-up cell and kernelspec, then the exercises
	$(BIN)/python -m utils.colab
	$(BIN)/python -m utils.grading.generate

bench: setup  ## each lesson headless from a cold cache: wall seconds, peak memory, headline numbers
	$(BIN)/python tests/bench.py

book: setup  ## run the lessons in order and export them as a static HTML book: build/book/index.html
	$(BIN)/python -m utils.book

clean:
	rm -rf artifacts build
