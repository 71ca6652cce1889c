"""The study on tables it was not written for: only the config's `dataset` section changes."""

import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from conftest import BIN, ROOT, copy_repo, snakemake

TABLES = ROOT.parent / "shared" / "data" / "tables"
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "name, target, published", [("energy", "heating_load", False), ("wine-quality-red", "quality", True)]
)
def test_the_smoke_study_runs_on_another_table_with_only_its_dataset_section(
    smoke_study, tmp_path, name, target, published
):
    """energy without its splits (seeded random ones), wine with its published ones."""
    repo = copy_repo(tmp_path / "repo")
    shutil.copytree(TABLES / name, repo / "data" / name)
    config = yaml.safe_load((repo / "config" / "smoke.yaml").read_text())
    config["dataset"] = {"file": f"data/{name}/{name}.csv", "target": target}
    if published:
        config["dataset"]["splits"] = f"data/{name}/splits"
    (repo / "config" / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(repo, "--cores", "2", "--configfile", f"config/{name}.yaml")
    # A study of its own folder: nothing of another study's is written or read.
    assert sorted(p.name for p in (repo / "results").iterdir()) == [name]
    results = repo / "results" / name
    smoke = smoke_study / "results" / "smoke"
    for folder in ("figures", "tables"):
        assert len(list((results / folder).iterdir())) == len(list((smoke / folder).iterdir()))
    clean = pd.read_csv(results / "data" / "clean.csv")
    assert clean.columns[-1] == target and len(clean) == len(pd.read_csv(TABLES / name / f"{name}.csv"))
    # Every page speaks the table's language: its target, no unit it does not declare.
    pages = [results / "summary.md", results / "data" / "summary.md", *(results / "tables").glob("*.md")]
    text = "\n".join(p.read_text() for p in pages)
    assert f"Mean {target}" in text and ("seeded random" in text) != published
    for word in ("MPa", "strength", "cement", "mixture"):
        assert word not in text, word
    # predict scores new rows of the table's raw inputs, in columns named after its target.
    rows = clean.drop(columns=[target]).head(4)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    proc = subprocess.run(
        [str(BIN / "concrete-study"), "predict", "--model", str(results / "final" / "model.pt"), "rows.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_csv(tmp_path / "rows.csv").columns.tolist()
    out = proc.stdout.splitlines()[0].split(",")
    assert out == [
        *scored,
        f"predicted_{target}",
        f"predicted_{target}_std",
        f"lower_{target}",
        f"upper_{target}",
        "out_of_range",
    ]
    assert "Nothing to be done" in snakemake(repo, "--configfile", f"config/{name}.yaml", "-n").stdout


def test_raw_and_derived_inputs_train_different_networks(smoke_study):
    """The smoke study's `inputs` experiment: the derived run reads the table's derived inputs
    too (3 more for concrete), through the same path as the benchmark's."""
    results = smoke_study / "results" / "smoke"
    table = pd.read_csv(results / "tables" / "inputs.csv").set_index("run")
    ids = {"raw": "h16-8_adam_lr0.01_bs64_e12", "derived": "h16-8_adam_lr0.01_bs64_derived_e12"}
    assert sorted(table.index) == sorted(ids.values())
    assert table.loc[ids["derived"], "parameters"] - table.loc[ids["raw"], "parameters"] == 3 * 16
    raw, derived = (
        pd.read_csv(results / "runs" / ids[k] / "val_predictions.csv") for k in ("raw", "derived")
    )
    assert raw["true"].equals(derived["true"]) and not raw["seed_0"].equals(derived["seed_0"])


@pytest.mark.parametrize(
    "job, heading",
    [("train", "one training job: [128, 64], 2 seeds"), ("peer", "the LightGBM peer's job: 2 seeds")],
)
def test_the_rows_benchmark_runs_a_job_as_a_node_does_and_its_request_covers_the_peak(job, heading):
    """benchmarks/rows.py on a small table: the job's request (resources.py) is at least its
    measured peak and at most twice it."""
    proc = subprocess.run(
        [
            str(BIN / "python"),
            str(ROOT / "benchmarks" / "rows.py"),
            "--rows",
            "2000",
            "--seeds",
            "2",
            "--job",
            job,
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(heading)
    assert lines[1].startswith("  2,000 rows:") and len(lines) == 2
    ratio = float(re.search(r"requested / peak (\d+\.\d+)$", lines[1]).group(1))
    assert 1 <= ratio <= 2, lines[1]
