# Two commands do everything on a fresh machine (the virtual environment is created if missing):
#   make book   execute every chapter (full mode; FAST=1 for the quick version) and build the book
#   make test   unit tests, the .py/.ipynb pair check, the book test (every chapter run in fast mode)
#   make lab    JupyterLab on the notebooks, with the project's kernel
VENV ?= .venv
FAST ?= 0
# chapters run at once, in both modes: 2, each kernel with one thread (the cores shared out), as
# .ci/run runs them. Full mode, chapters 5 and 8 on empty caches (2026-12-06, 2 cores, Zen 3):
# 739 s two at a time against 882 s one after the other at two threads each
JOBS ?= 2
TEST_JOBS ?= 2
PY = $(VENV)/bin/python
CELL_TIMEOUT ?= 300
FASTFLAG = $(if $(filter 1 true yes,$(FAST)),--fast,)

.PHONY: env data book run test test-notebooks lint check-pairs lab clean
env:
	@VENV=$(VENV) bash scripts/env.sh >/dev/null

# verify (MD5) the datasets the chapters need; fetch what is missing, or say how to get it.
# WEIGHTS=1 also fetches the ImageNet weights of chapters 8, 9 and 12 (torchvision's download)
WEIGHTS ?= 0
data: env
	$(PY) -m course_utils data ensure
	$(if $(filter 1 true yes,$(WEIGHTS)),$(PY) -m course_utils data prepare weights,)

run: env data
	$(PY) -m course_utils run $(FASTFLAG) -j $(JOBS)

book: run
	$(PY) -m course_utils book

check-pairs: env
	$(PY) -m jupytext --quiet --update --to ipynb notebooks/[0-9][0-9]_*.py
	git diff --exit-code --stat -- notebooks/ || (echo "notebooks/*.ipynb out of sync with the .py files: run 'make check-pairs' and commit" && exit 1)

# JupyterLab on notebooks/ with the project's kernel (looking-inside) registered in the venv
lab: env
	$(PY) -m course_utils lab

lint: env
	$(VENV)/bin/ruff check .

# the book test executes every chapter once (fast mode, every claim checked) through the batch
# runner, TEST_JOBS at a time; `make test-notebooks` runs them cell by cell under nbval instead
test: env data check-pairs
	COURSE_FAST=1 COURSE_CELL_TIMEOUT=$(CELL_TIMEOUT) COURSE_JOBS=$(TEST_JOBS) $(PY) -m pytest tests/unit tests/book \
	  -p no:cacheprovider

test-notebooks: env data
	COURSE_FAST=1 COURSE_CELL_TIMEOUT=$(CELL_TIMEOUT) $(PY) -m pytest notebooks \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_TIMEOUT) -p no:cacheprovider

clean:
	rm -rf results book/_build book/chapters book/status.md book/results.md .cache
