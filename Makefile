# The course's commands. A newcomer needs two: `make book` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
# torch goes in first, pinned, so the range in requirements.txt never pulls another build.
# Elsewhere pick a build, e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
# nbgrader shells out to alembic from the venv's bin folder, so that folder leads PATH.
RUN := PATH="$(BIN):$$PATH"
PYTEST_ARGS ?=
ASSIGNMENTS ?=

.PHONY: help install book book-clean test release collect autograde feedback export clean

help:
	@echo "make book   build the HTML book (every notebook executed) into _build/html"
	@echo "make test   run the whole test suite (library, book build, browser, exercises, autograder)"
	@echo "instructor: make release | collect A=ps1-language-models P=submissions/ | autograde A=... | feedback A=... | export"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

install: $(STAMP)

book: $(STAMP)
	$(RUN) jupyter-book build . -W -n --keep-going
	@echo "The book: $(abspath _build/html/index.html)"

book-clean:
	rm -rf _build/html _build/.doctrees _build/jupyter_execute _build/.jupyter_cache

test: $(STAMP)
	$(RUN) python -m pytest $(PYTEST_ARGS)

# The instructor's steps (see autograder/README.md).
release: $(STAMP)
	$(RUN) rnn-course release $(ASSIGNMENTS)
collect: $(STAMP)
	$(RUN) rnn-course collect $(A) $(P)
autograde: $(STAMP)
	$(RUN) rnn-course autograde $(A)
feedback: $(STAMP)
	$(RUN) rnn-course feedback $(A)
export: $(STAMP)
	$(RUN) rnn-course export --csv grades.csv

clean: book-clean
	rm -rf $(VENV) *.egg-info .pytest_cache
