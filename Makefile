# The course's commands. `make lab` opens the course, `make test` runs every test.
# Both create the virtual environment .venv from requirements.txt first if it is missing or stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
LESSON_FILES := $(sort $(wildcard notebooks/*.ipynb))
# `make bench LESSONS="01 03"` measures only the lessons with those numbers; without it, every lesson.
LESSONS ?=
SOLUTIONS := $(sort $(wildcard solutions/*.ipynb))

.PHONY: help setup lab test unit colab-check execute exercises bench book clean notebook-files

.DEFAULT_GOAL := help

help:  ## list the commands
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  make %-15s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

setup: $(READY)  ## create .venv from requirements.txt (make lab and make test do it first)

# uv installs the pinned packages in seconds where pip takes minutes; if uv cannot be had or fails, pip
# installs them instead. uv does not read pip's configuration, so a local wheel folder that pip is told
# about (find-links, e.g. a CPU build of torch) is passed on to it.
UV_VERSION := 0.13.9
PIP_LINKS = $(strip $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
UV_LINKS = $(foreach d,$(sort $(PIP_LINKS)),--find-links $(d))
# torch comes from PyTorch's own index for this machine (uv's --torch-backend): `auto` takes the CPU build
# where there is no NVIDIA driver, instead of PyPI's Linux build, which brings gigabytes of CUDA libraries
# that a laptop without a GPU never uses. `make setup TORCH_BACKEND=cpu` (or cu128, ...) chooses by hand. A
# torch wheel in a local wheel folder (the find-links above) is taken as it is, without asking that index.
LOCAL_TORCH = $(firstword $(foreach d,$(PIP_LINKS),$(wildcard $(patsubst file://%,%,$(d))/torch-*.whl)))
TORCH_BACKEND ?= $(if $(LOCAL_TORCH),,auto)
UV_TORCH = $(if $(TORCH_BACKEND),--torch-backend $(TORCH_BACKEND),)
UV = $(BIN)/uv pip install --quiet --python $(BIN)/python

# Python compiles each module it imports to bytecode once and keeps it beside the source. uv does not
# compile at install time, and where PYTHONDONTWRITEBYTECODE is set (some containers and CI images)
# nothing would ever keep the bytecode, so every kernel would import torch and transformers from source,
# two to three times slower. The course's commands let Python keep it.
unexport PYTHONDONTWRITEBYTECODE

$(READY): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION) \
		&& $(UV) $(UV_TORCH) $(UV_LINKS) -r requirements.txt && $(UV) --no-deps -e . \
		|| { $(BIN)/python -m pip install --quiet -r requirements.txt \
			&& $(BIN)/python -m pip install --quiet --no-deps -e .; }
	touch $(READY)

# Jupyter refuses to run as root (containers, cloud machines) unless told it may.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# The repository is the server's root, so the links between lessons, exercises and solutions
# (../exercises/..., ../solutions/...) resolve; lesson 00 opens first. tests/test_browser.py starts the
# server with these same arguments.
LAB_ARGS := --ServerApp.root_dir=. notebooks/00_start_here.ipynb

lab: setup  ## open the course in JupyterLab, at lesson 00
	$(BIN)/jupyter lab $(ALLOW_ROOT) $(LAB_ARGS)

# Tests and notebooks run in JOBS pytest-xdist workers, one per core by default (`make test JOBS=1` runs
# everything in this process, one after another); --dist loadfile keeps each notebook's cells in one
# worker, in order, and --no-loadscope-reorder hands out the slowest files first (tests/conftest.py). With several workers each notebook's torch uses one thread: two workers sharing two
# cores with two threads each wait on one another.
JOBS ?= $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
PARALLEL := $(if $(filter-out 0 1,$(JOBS)),-n $(JOBS) --dist loadfile --no-loadscope-reorder,)

test: setup  ## pre-train the shared checkpoints, then unit and grading tests and every lesson and solution re-run with nbval
	# Both pre-trained models are trained (or found cached) once, before any notebook asks for them, so
	# parallel workers never train the same checkpoint at the same time (and each trains with the threads
	# it has in a lesson, so it is the checkpoint the committed lessons show). utils.causal_lm pre-trains
	# the masked language model first, whose tokenizer it uses: one process, the libraries loaded once.
	# The exercise notebooks run in the grader's tests (tests/test_grading.py), as students hand them in.
	$(BIN)/python -m utils.causal_lm
	$(if $(PARALLEL),OMP_NUM_THREADS=1 ,)$(BIN)/python -m pytest tests notebooks solutions --nbval-lax \
		--durations=10 $(PARALLEL)

# Every lesson, and every exercise notebook with the solutions' answers filled in, through its set-up cell on
# a simulated Colab runtime of its own (Colab's package versions, a google.colab module, pandas loaded at
# kernel start, the clone into /content), two at a time on 2 cores: tests/colab_sim.py says how
# (`python tests/colab_sim.py --lessons 00 09 --exercises 09` runs only those). Needs the package index and
# write access to /content (root, for a private /content per notebook); CI runs it after make test.
colab-check: setup  ## the Colab path: every lesson and filled-in exercise notebook on a simulated Colab runtime (about 25 CPU-minutes)
	$(BIN)/python tests/colab_sim.py

# The tests marked slow (tests/conftest.py: a real browser, the grader on whole notebooks, nbgrader, fresh
# Python processes) take minutes; make unit leaves them to make test, and runs the rest as make test does,
# one worker per core.
unit: setup  ## the unit and grading tests without the slow ones (a minute or two)
	$(if $(PARALLEL),OMP_NUM_THREADS=1 ,)$(BIN)/python -m pytest tests -m "not slow" $(PARALLEL)

execute: setup  ## re-run lessons and solutions in place so their stored outputs are fresh
	# Progress bars are switched off in the stored outputs: a frozen bar reads badly on GitHub.
	for nb in $(LESSON_FILES) $(SOLUTIONS); do \
		TQDM_DISABLE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=900 $$nb || exit 1; \
	done

exercises: setup  ## write exercises/ from solutions/ (answer regions become stubs)
	$(BIN)/python -m grading.generate

notebook-files: setup  ## every notebook's badge, Colab set-up cell and kernelspec, then the exercises
	$(BIN)/python -m utils.colab
	$(BIN)/python -m grading.generate

bench: setup  ## each lesson headless from a cold cache: wall seconds, peak memory, headline numbers (LESSONS=09: only those)
	$(BIN)/python tests/bench.py $(LESSONS)

book: setup  ## run the lessons in order and export them as a static HTML book: build/book/index.html
	$(BIN)/python -m utils.book

clean:
	rm -rf artifacts build
