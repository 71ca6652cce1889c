"""Shared fixtures: temporary copies of the repository and one real smoke run of the workflow."""

from __future__ import annotations

# First: importing the library pins the numerics (MKL, OpenBLAS) before numpy loads.
import concrete_study  # noqa: F401

# isort: split
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RAW = ROOT / "data" / "Concrete_Data.xls"
SPLITS = ROOT / "data" / "uci_splits"
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONHASHSEED": "0"}


def concrete_spec() -> dict:
    """The concrete study's `dataset` section, its paths made absolute."""
    import yaml

    spec = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["dataset"]
    return {**spec, "file": str(ROOT / spec["file"])}


def concrete():
    """The concrete table as the study reads it: its Dataset and its clean table."""
    from concrete_study.dataset import read_table

    return read_table(concrete_spec())


# The concrete table's raw inputs, in the file's order.
CONCRETE_INPUTS = [
    "cement", "slag", "fly_ash", "water", "superplasticizer", "coarse_aggregate", "fine_aggregate", "age"
]  # fmt: skip


@pytest.fixture(scope="session")
def concrete_read():
    return concrete()


@pytest.fixture(scope="session")
def dataset(concrete_read):
    """The concrete table's facts (Dataset), as config/config.yaml describes them."""
    return concrete_read[0]


@pytest.fixture(scope="session")
def table(concrete_read):
    """The concrete table, clean: the raw inputs, then the strength."""
    return concrete_read[1]


def copy_repo(dest: Path) -> Path:
    """The repository's files (what git tracks or would track) and the data, copied to dest."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        if name.startswith("results/"):
            continue  # a copy starts with no results
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    shutil.copytree(ROOT / "data", dest / "data", dirs_exist_ok=True)  # the dataset and the splits
    return dest


def poisoned(table: pd.DataFrame, rows) -> pd.DataFrame:
    """The table with these rows changed beyond recognition: for tests that no result reads them."""
    out = table.copy()
    out.iloc[rows, :] = out.iloc[rows, :].to_numpy() * 100 + 1000
    return out


def snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real snakemake in `cwd` (a copy of the repository)."""
    # The copy's own library, not the checkout's, is what its jobs import.
    env = {**ENV, "PYTHONPATH": str(cwd / "src")}
    proc = subprocess.run([str(BIN / "snakemake"), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def comparable_results(repo, study: str = "smoke"):
    """Every result file's bytes of a study (its folder under results/), less the logs and
    the jobs' benchmark files: what dvc.yaml pins, which carries no wall time, so two runs of one
    study must give the same bytes."""
    top = repo / "results" / study
    return {
        p.relative_to(top).as_posix(): p.read_bytes()
        for p in sorted(top.rglob("*"))
        if p.is_file() and not p.relative_to(top).as_posix().startswith(("logs/", "benchmarks/"))
    }


SMOKE = ("--cores", "2", "--configfile", "config/smoke.yaml")


def planned_jobs(cwd: Path, *extra: str) -> dict[str, int]:
    """Job counts per rule that a dry run of the smoke study plans."""
    out = snakemake(cwd, *SMOKE, "-n", *extra).stdout
    counts: dict[str, int] = {}
    in_stats = False
    for line in out.splitlines():
        if line.startswith("job ") and "count" in line:
            in_stats = True
            continue
        if in_stats:
            parts = line.split()
            if not parts or parts[0] == "total":
                break
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory) -> Path:
    """One full run of the smoke study in a temporary copy of the repository."""
    if not RAW.is_file():
        pytest.fail(f"{RAW} is missing: run `make data` (dvc pull) first")
    repo = copy_repo(tmp_path_factory.mktemp("smoke"))
    snakemake(repo, *SMOKE)
    return repo


@pytest.fixture
def smoke_copy(smoke_study, tmp_path) -> Path:
    """A private copy of the finished smoke study, to edit and rerun."""
    dest = tmp_path / "repo"
    shutil.copytree(smoke_study, dest, symlinks=True)
    return dest
