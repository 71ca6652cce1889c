"""Failures are loud, early and harmless: bad data, killed jobs, divergence, concurrency."""

import os
import signal
import subprocess
import time

import pandas as pd
import pytest
import yaml
from conftest import BIN, ENV, SMOKE, comparable_results, copy_repo, snakemake

pytestmark = pytest.mark.slow

DIVERGING = "h16-8_sgd_lr5_bs64_e12"


def test_divergence_is_a_table_row_and_a_curve(smoke_study):
    table = pd.read_csv(smoke_study / "results" / "smoke" / "tables" / "optimizers.csv")
    row = table[table["run"] == DIVERGING].iloc[0]
    assert row["diverged"] == 2 and row["seeds"] == 2
    assert pd.isna(row["best_val_loss_mean"])
    assert table.index[table["run"] == DIVERGING][0] == len(table) - 1  # sorted last
    assert "| 2/2 |" in (smoke_study / "results" / "smoke" / "tables" / "optimizers.md").read_text()
    metrics = (smoke_study / "results" / "smoke" / "runs" / DIVERGING / "metrics.json").read_text()
    assert '"diverged_at_epoch"' in metrics and '"seed_0": null' not in metrics


def test_a_corrupt_dataset_is_refused_before_any_job(smoke_copy):
    before = {p: p.read_bytes() for p in (smoke_copy / "results" / "smoke").rglob("*") if p.is_file()}
    raw = smoke_copy / "data" / "Concrete_Data.xls"
    raw.write_bytes(raw.read_bytes()[:4096])
    proc = snakemake(smoke_copy, *SMOKE, check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("data error: data/Concrete_Data.xls: md5 ")
    assert {p: p.read_bytes() for p in (smoke_copy / "results" / "smoke").rglob("*") if p.is_file()} == before
    # With the md5 check off, ingest's own validation names the problem in one line.
    config = yaml.safe_load((smoke_copy / "config" / "smoke.yaml").read_text())
    config["dataset"]["md5"] = None
    (smoke_copy / "config" / "smoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(smoke_copy, *SMOKE, check=False)
    assert proc.returncode != 0
    assert "error: data/Concrete_Data.xls: not a readable Excel file" in proc.stderr


def test_sigkill_mid_training_then_make_run_unlocks_and_equals_an_uninterrupted_run(smoke_study, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    proc = start_smoke_run(repo)
    runs = repo / "results" / "smoke" / "runs"
    deadline = time.time() + 120
    # Kill once a training job is running and at least one has finished.
    while time.time() < deadline:
        done = list(runs.glob("*/metrics.json")) if runs.exists() else []
        started = [d for d in runs.iterdir() if not (d / "metrics.json").exists()] if runs.exists() else []
        if done and started:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # Nothing half-written has its final name: a run either has all its files or is redone.
    for run in runs.iterdir():
        if (run / "metrics.json").exists():
            assert all((run / f).exists() for f in ("history.csv", "weights.pt", "gradients.csv"))
    assert list((repo / ".snakemake" / "locks").iterdir()), "the hard kill left Snakemake's lock"
    proc = make(repo, "run", "CONFIG=config/smoke.yaml", "CORES=2")
    assert proc.returncode == 0, proc.stderr
    assert "make: a stale Snakemake lock (no Snakemake runs in this directory), cleared" in proc.stdout
    assert not list((repo / "results" / "smoke").rglob(".*.tmp*")), "a killed job's temporary file was left"
    assert comparable_results(repo) == comparable_results(smoke_study)


def test_the_lock_of_a_live_run_is_left_alone(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    proc = start_smoke_run(repo)
    locks = repo / ".snakemake" / "locks"
    deadline = time.time() + 120
    while time.time() < deadline and not (locks.exists() and list(locks.iterdir())):
        time.sleep(0.05)
    try:
        refused = make(repo, "unlock")
        assert refused.returncode != 0
        assert f"make: Snakemake (pid {proc.pid}) runs in this directory and holds its lock: left alone" in (
            refused.stderr
        )
        assert list(locks.iterdir())
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def start_smoke_run(repo):
    """The smoke study on one core, in a session of its own (so that it can be killed whole)."""
    return subprocess.Popen(
        [str(BIN / "snakemake"), *SMOKE[:1], "1", *SMOKE[2:]],
        cwd=repo,
        env={**ENV, "PYTHONPATH": str(repo / "src")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def make(repo, *args) -> subprocess.CompletedProcess:
    """The project's Makefile in `repo`, with this environment's virtualenv."""
    env = {**ENV, "PYTHONPATH": str(repo / "src")}
    return subprocess.run(
        ["make", f"VENV={BIN.parent}", *args], cwd=repo, env=env, capture_output=True, text=True
    )


def test_many_cores_give_the_same_results_as_few(smoke_study, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    snakemake(repo, "--cores", "8", "--configfile", "config/smoke.yaml")
    assert comparable_results(repo) == comparable_results(smoke_study)
