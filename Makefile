# Two commands for a new user: `make run` (the whole study) and `make test` (the test suite).
# Both set everything up first and are fast when it already is.

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
# Offline machines get the dataset from this read-only DVC remote when no other is configured.
SHARED_REMOTE ?= ../shared/dvc-remote
CORES ?= all
export DVC_NO_ANALYTICS := 1

.PHONY: run test setup data push pull unlock lint report bench bench-study slurm-test clean

# The study, then `dvc commit`: the outs go into DVC's cache, so `dvc status` and `dvc push`
# work, and dvc.lock records them (unchanged where they reproduce it; commit it where they do not).
# `make run CONFIG=config/smoke.yaml` runs another study instead, into results/smoke/, without
# `dvc commit`: dvc.lock records the study of config/config.yaml.
run: data unlock
	$(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG))
	$(if $(CONFIG),,$(BIN)/dvc commit --force --quiet)

# A hard kill (kill -9, a lost node) leaves Snakemake's lock behind, and the next run refuses to
# start. Cleared when no Snakemake process runs in this directory; a live run's lock stays.
unlock: setup
	@[ -n "$$(ls -A .snakemake/locks 2>/dev/null)" ] || exit 0; \
	if [ ! -d /proc/self ]; then \
	  echo "make: Snakemake's lock is held; if no run is alive here, $(BIN)/snakemake --unlock" >&2; exit 1; \
	fi; \
	live=$$(for p in /proc/[0-9]*; do \
	  [ "$$(readlink $$p/cwd 2>/dev/null)" = "$(realpath .)" ] && tr '\0' ' ' < $$p/cmdline 2>/dev/null \
	    | grep -qE '^[^ ]*python[^ ]* [^ ]*snakemake( |$$)' && echo $${p#/proc/}; \
	done); \
	if [ -n "$$live" ]; then \
	  echo "make: Snakemake (pid" $$live") runs in this directory and holds its lock: left alone" >&2; exit 1; \
	fi; \
	$(BIN)/snakemake --unlock --quiet > /dev/null 2>&1 || { $(BIN)/snakemake --unlock; exit 1; }; \
	echo "make: a stale Snakemake lock (no Snakemake runs in this directory), cleared"

test: data
	$(BIN)/python -m pytest

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c "import torch, snakemake, dvc, concrete_study"
	touch $@

# The dataset and the benchmark splits (data/, one DVC directory): dvc pull from the default
# remote, or where none is set from the read-only shared one (added as `shared`, --local); then
# the workflow's download rules fetch whatever is still missing.
data: setup
	@if [ ! -f data/Concrete_Data.xls ] || [ ! -d data/uci_splits ]; then \
	  if $(BIN)/dvc remote default > /dev/null 2>&1; then $(BIN)/dvc pull --quiet data.dvc; \
	  elif [ -d "$(SHARED_REMOTE)" ]; then \
	    $(BIN)/dvc remote list | grep -q '^shared\b' \
	      || $(BIN)/dvc remote add --local shared "$(abspath $(SHARED_REMOTE))"; \
	    $(BIN)/dvc pull --quiet -r shared data.dvc; \
	  fi; \
	  $(BIN)/snakemake get_data --cores 1 --quiet; \
	fi

# The study's results to and from the team's remote (docs/dvc.md): push refuses unless dvc.lock
# records this checkout; pull checks every file against dvc.lock and rebuilds Snakemake's records.
push: setup
	$(BIN)/python -m concrete_study.sharing push

pull: setup
	$(BIN)/python -m concrete_study.sharing pull

lint: setup
	$(BIN)/python -m pytest -q tests/test_lint.py

report: setup
	$(BIN)/snakemake --report report.html

bench: data
	$(BIN)/python benchmarks/trainer.py

bench-study: data
	$(BIN)/python benchmarks/study.py

slurm-test: setup
	bash tests/cluster/slurm.sh

clean:
	rm -rf results .snakemake report.html
