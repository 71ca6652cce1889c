"""The result on one page: its numbers are the final model's and the benchmark's, and it says
which commit and which dvc.lock state it was built from."""

import hashlib
import json
import math
import subprocess

import pytest
import yaml

from concrete_study.summary import commit_state, lock_state


def test_lock_state_names_the_outs_that_differ(tmp_path):
    (tmp_path / "a.json").write_text("{}\n")
    (tmp_path / "b.csv").write_text("x\n1\n")
    outs = [
        {"path": "a.json", "md5": hashlib.md5(b"{}\n").hexdigest()},
        {"path": "b.csv", "md5": hashlib.md5(b"x\n2\n").hexdigest()},
        {"path": "gone.pt", "md5": "0" * 32},
        {"path": "summary.json", "md5": "1" * 32},  # the summary's own: not yet written
    ]
    assert lock_state(tmp_path, ["summary.json"]) == "no dvc.lock"
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"stages": {"study": {"outs": outs}}}))
    assert (
        lock_state(tmp_path, ["summary.json"]) == "2 outs differ from those dvc.lock records (b.csv, gone.pt)"
    )
    (tmp_path / "b.csv").write_text("x\n2\n")
    (tmp_path / "gone.pt").write_bytes(b"")
    outs[2]["md5"] = hashlib.md5(b"").hexdigest()
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"stages": {"study": {"outs": outs}}}))
    assert lock_state(tmp_path, ["summary.json"]) == "dvc.lock records these outs"


def test_commit_state_names_the_commit_and_changed_code_not_results(tmp_path):
    assert commit_state(tmp_path) == "files outside a git checkout"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    (tmp_path / "code.py").write_text("a = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "metrics.json").write_text("{}\n")
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    )
    assert commit_state(tmp_path) == f"commit {head.stdout.strip()}"
    (tmp_path / "results" / "metrics.json").write_text('{"a": 1}\n')  # results may change
    assert commit_state(tmp_path) == f"commit {head.stdout.strip()}"
    (tmp_path / "code.py").write_text("a = 2\n")
    assert commit_state(tmp_path) == f"commit {head.stdout.strip()} with 1 changed files"


@pytest.mark.slow
def test_the_headline_is_the_final_model_and_the_benchmark(smoke_study):
    results = smoke_study / "results"
    final = json.loads((results / "final" / "metrics.json").read_text())
    bench = json.loads((results / "benchmark" / "summary.json").read_text())
    head = json.loads((results / "summary.json").read_text())
    assert head["final"]["test_rmse"] == final["test_rmse"] and head["final"]["test_r2"] == final["test_r2"]
    assert head["final"]["test_rmse_ci95_low"] ** 2 == pytest.approx(final["test_mse_ci95"][0])
    assert head["benchmark"]["rmse_mean"] == bench["rmse_mean"]
    assert head["interval"]["benchmark_coverage"] == bench["coverage"]
    assert head["interval"]["final_coverage"] == final["interval"]["test_coverage"]
    assert head["benchmark"]["peer_rmse_mean"] == bench["peer"]["rmse_mean"]
    assert sum(len(group) for group in head.values()) == 15
    page = (results / "summary.md").read_text()
    lo, hi = (math.sqrt(v) for v in final["test_mse_ci95"])
    assert f"| {final['test_rmse']:.2f} ({lo:.2f}-{hi:.2f}) | {final['test_mae']:.2f} |" in page
    assert "| Original study's final model | 5.51 |" in page  # MSE 30.41
    assert (
        "| Final model: MLP [16, 8] on the derived inputs through periodic embeddings, each seed the mean "
        "of 2 snapshots, blended with" in page
    )
    assert f"| Its LightGBM peer alone | {final['peer']['rmse']:.2f} |" in page  # the smoke study blends
    assert f"| {bench['rmse_mean']:.2f} ± {bench['rmse_se']:.2f} | measured here |" in page
    assert "| Best published: WGBoost | 4.15 ± 0.52 (sd) |" in page
    assert (
        f"| LightGBM peer, tuned per split on the same inner rows | {bench['peer']['rmse_mean']:.2f} ± "
        in page
    )
    assert (
        page.index("LightGBM peer")
        < page.index("Blend of the network and the peer")
        < page.index("Best published")
    )
    assert "Built from files outside a git checkout; 6 outs differ from those dvc.lock records" in page
