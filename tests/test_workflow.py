"""End to end: the real snakemake on the smoke study, its outputs and its incremental reruns."""

import csv
import importlib.util
import itertools
import json
import re
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import RAW, ROOT, SMOKE, comparable_results, copy_repo, planned_jobs, snakemake
from PIL import Image

from concrete_study.config import load
from concrete_study.runs import expand_study

pytestmark = pytest.mark.slow


def smoke_config() -> dict:
    return load(ROOT / "config" / "smoke.yaml")


def smoke_study_plan():
    return expand_study(smoke_config())


def test_data_outputs(smoke_study):
    d = smoke_study / "results" / "smoke" / "data"
    summary = json.loads((d / "summary.json").read_text())
    assert summary["rows"] == 1030 and summary["duplicate_rows"] == 25
    assert "| cement | kg/m³ |" in (d / "summary.md").read_text()
    parts = {p: np.loadtxt(d / "split" / f"{p}.txt", dtype=int) for p in ("train", "val", "test")}
    assert [len(parts[p]) for p in ("train", "val", "test")] == [721, 154, 155]
    assert len(np.unique(np.concatenate(list(parts.values())))) == 1030
    clean = pd.read_csv(d / "clean.csv")
    scaler = json.loads((d / "scaler.json").read_text())
    train = clean.iloc[parts["train"]]
    np.testing.assert_allclose(scaler["mean"], train[scaler["columns"]].mean(), rtol=1e-9)
    base = json.loads((d / "baselines.json").read_text())
    assert 250 < base["mean_mse_val"] < 320 and base["linear_mse_val"] < base["mean_mse_val"]


def test_tables_have_a_row_per_run_with_seed_statistics(smoke_study):
    t = pd.read_csv(smoke_study / "results" / "smoke" / "tables" / "architectures.csv")
    assert len(t) == 4 and set(t["epochs"]) == {6, 12}
    assert (t["seeds"] == 2).all() and (t["diverged"] == 0).all()
    assert t["best_val_loss_mean"].is_monotonic_increasing
    assert (t["best_val_loss_mean"] <= t["final_val_loss_mean"] + 1e-9).all()
    # The 6-epoch rows are read from the 12-epoch job's history.
    runs = smoke_study / "results" / "smoke" / "runs"
    assert not (runs / "h8_adam_lr0.01_bs64_e6").exists()
    h = pd.read_csv(runs / "h8_adam_lr0.01_bs64_e12" / "history.csv")
    row = t[(t["hidden"] == "8") & (t["epochs"] == 6)].iloc[0]
    at6 = h[h["epoch"] == 6]["val_mse"]
    assert row["final_val_loss_mean"] == pytest.approx(at6.mean())
    assert row["final_val_loss_std"] == pytest.approx(at6.std(ddof=1))
    params = pd.read_csv(smoke_study / "results" / "smoke" / "tables" / "parameter_count.csv")
    assert params["match"].all()
    assert params.set_index("hidden").loc["16-8", "counted"] == 289
    md = (smoke_study / "results" / "smoke" / "tables" / "optimizers.md").read_text()
    assert "| sgd_momentum | none | 0.90 |" in md and " ± " in md


def test_every_figure_is_a_real_picture(smoke_study):
    figures = sorted((smoke_study / "results" / "smoke" / "figures").glob("*.png"))
    names = {f.name for f in figures}
    for expected in (
        "fig01_cement_histogram.png",
        "fig05_learning_curves.png",
        "fig09_learning_rate_schedules.png",
        "fig14_gradients_per_layer.png",
        "depth_gradients_8_layers.png",
        "depth_predictions_2_layers.png",
        "fig20_final_predicted_vs_true.png",
        "feature_importance.png",
        "regularization_curves.png",
    ):
        assert expected in names
    figs = smoke_config()["figures"]
    # Figures 1-3, 5, 7, 8, 9, 11-14, 20, importance, the benchmark's and regularization's; one
    # per depth shown; first-layer gradients.
    depth = figs["depth"]
    assert len(figures) == 15 + len(depth["gradients"]) + len(depth["predictions"]) + 1
    for f in figures:
        img = np.asarray(Image.open(f).convert("L"), dtype=float)
        assert img.shape[0] >= 300 and img.shape[1] >= 500, f.name
        assert img.std() > 10, f"{f.name} looks blank"


def test_schedule_figure_data_follow_the_config(smoke_study):
    lr = pd.read_csv(smoke_study / "results" / "smoke" / "figures" / "fig09_learning_rate_schedules.csv")
    step = lr[lr["run"].str.contains("_step4-0.5_")].sort_values("epoch")["lr"].to_numpy()
    np.testing.assert_allclose(step, 0.01 * 0.5 ** (np.arange(12) // 4))
    cos = lr[lr["run"].str.contains("_cos_")].sort_values("epoch")["lr"].to_numpy()
    np.testing.assert_allclose(cos, 0.005 * (1 + np.cos(np.pi * np.arange(12) / 12)), rtol=1e-6)
    none = lr[lr["run"] == "h16-8_adam_lr0.01_bs64_e12"]["lr"]
    assert (none == 0.01).all()


def test_the_regularization_table_and_figure_answer_task_7(smoke_study):
    """The smoke study's regularization experiment: its table has the keys and the gap, and the
    figure's answer, which the caption includes, names the runs the table ranks."""
    results = smoke_study / "results" / "smoke"
    table = pd.read_csv(results / "tables" / "regularization.csv").set_index("run")
    assert len(table) == 5 and {"dropout", "weight_decay", "gap_mean", "gap_std"} <= set(table.columns)
    h = pd.read_csv(results / "runs" / "h16-8_adam_lr0.01_bs64_drop0.2_e12" / "history.csv")
    last = h[h["epoch"] == 12]
    gap = table.loc["h16-8_adam_lr0.01_bs64_drop0.2_e12", "gap_mean"]
    assert gap == pytest.approx((last["val_mse"] - last["train_mse"]).mean())
    # Dropout trains another network: its history is not the plain run's.
    plain = pd.read_csv(results / "runs" / "h16-8_adam_lr0.01_bs64_e12" / "history.csv")
    assert not np.allclose(plain["train_mse"], h["train_mse"])
    text = (results / "figures" / "regularization_curves.txt").read_text()
    assert "The largest architecture, [16-8] (289 parameters)" in text and "largest architecture win" in text
    regularized = table[table["hidden"] == "16-8"].drop(index="h16-8_adam_lr0.01_bs64_e12")
    row = regularized.loc[regularized["best_val_loss_mean"].idxmin()]
    mse = f"{row['best_val_loss_mean']:.2f} ± {row['best_val_loss_std']:.2f} MPa²"
    assert (
        f"{mse} at its best regularization (dropout {row['dropout']:g}, weight decay {row['weight_decay']:g})"
        in text
    )


def test_report_gathers_every_figure_and_table(smoke_study):
    snakemake(smoke_study, *SMOKE, "--report", "report.html")
    html = (smoke_study / "report.html").read_text(errors="replace")
    shown = [
        *(smoke_study / "results" / "smoke" / "figures").glob("*.png"),
        *(smoke_study / "results" / "smoke" / "tables").glob("*.csv"),
    ]
    missing = [p.name for p in shown if p.name not in html]
    assert len(shown) > 20 and not missing, missing
    # Captions speak the table's language, from the config's dataset section (Jinja).
    assert "histogram of cement against strength" in html and "published 90/10" in html
    assert "largest architecture win" in html and "The largest architecture, [16-8]" in html
    assert html.count("the gap being the final validation") == 1  # the regularization table's caption
    # Beside each sweep table, its seconds per model, read from the time logs (no pinned file).
    tables = sorted((smoke_study / "results" / "smoke" / "logs" / "tables").glob("*.time.csv"))
    assert len(tables) > 3 and html.count("Seconds per model on the machine that trained it") == len(tables)
    first = pd.read_csv(tables[0])
    assert first["train_time_sec"].gt(0).all() and f"<td>{first['run'][0]}</td>" in html
    # The front page opens on the result, rendered as tables (not a literal block), then
    # describes the study.
    front = html[html.index("var workflow_desc") :]
    front = front[: front.index("A reproducible")]
    assert "The result</h1>" in front and front.count("<table") == 2 and "<pre" not in front


def test_nothing_to_do_after_a_full_run(smoke_study):
    out = snakemake(smoke_study, *SMOKE, "-n").stdout
    assert "Nothing to be done" in out


def test_jobs_forked_from_the_server_compute_what_jobs_of_their_own_compute(smoke_study, tmp_path):
    """The smoke study ran with the fork server, its training jobs forked from it; the same study
    with no hooks, every job in a process of its own, gives the same bytes."""
    forked = (smoke_study / ".snakemake" / "log" / "forkserver.log").read_text()
    assert re.search(r"\.train\.py: pid \d+", forked) and "own process" not in forked, forked
    repo = copy_repo(tmp_path / "repo")
    snakemake(repo, *SMOKE, "--no-hooks")
    assert not (repo / ".snakemake" / "log" / "forkserver.log").exists()
    assert comparable_results(repo) == comparable_results(smoke_study)
    # Each job's benchmark file is its own measurement, forked or not: torch's memory is in both
    # (the process that waits for a fork holds a few tens of MB), CPU time within the wall time.
    for study in (smoke_study, repo):
        for path in (study / "results" / "smoke" / "benchmarks" / "train").glob("*.tsv"):
            with open(path) as fh:
                row = next(csv.DictReader(fh, delimiter="\t"))
            assert float(row["max_rss"]) > 150 and float(row["cpu_time"]) <= float(row["s"]) + 0.5, (
                path,
                row,
            )


def test_changing_one_learning_rate_retrains_only_that_run(smoke_copy):
    path = smoke_copy / "config" / "smoke.yaml"
    config = yaml.safe_load(path.read_text())
    config["experiments"]["optimizers"]["grids"][1]["lr"] = [5.0e-3]  # the sgd_momentum run
    config["figures"]["optimizer_curves"][1]["lr"] = 5.0e-3  # the figure that shows it
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(smoke_copy)
    assert jobs.get("train") == 1
    assert jobs.get("experiment_table") == 1 and jobs.get("optimizer_curves") == 1
    assert "final_model" not in jobs and "ingest" not in jobs


def test_adding_an_architecture_trains_only_the_new_one(smoke_copy):
    path = smoke_copy / "config" / "smoke.yaml"
    config = yaml.safe_load(path.read_text())
    config["experiments"]["architectures"]["grids"][0]["hidden"].append([4, 4])
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(smoke_copy)
    assert jobs["train"] == 1 and jobs["experiment_table"] == 1
    snakemake(smoke_copy, *SMOKE)
    assert (smoke_copy / "results" / "smoke" / "runs" / "h4-4_adam_lr0.01_bs64_e12" / "metrics.json").exists()
    assert "Nothing to be done" in snakemake(smoke_copy, *SMOKE, "-n").stdout


FIGURE_RULES = {
    "data_figures",
    "learning_curves",
    "optimizer_curves",
    "schedule_figure",
    "regularization_figure",
    "weight_figures",
    "gradient_figure",
    "depth_gradient_figure",
    "depth_first_layer_figure",
    "depth_prediction_figure",
    "final_figures",
    "benchmark_figure",
}
DATA_RULES = {"ingest", "inspect_data", "split", "scale", "baselines", "benchmark_splits"}
BENCHMARK_RULES = {"benchmark_inner", "benchmark_select", "benchmark_retrain", "benchmark_summary"}


def edit(repo, module):
    path = repo / "src" / "concrete_study" / f"{module}.py"
    path.write_text(path.read_text() + "\n# an edit\n")


def test_plotting_edit_redraws_every_figure_and_trains_nothing(smoke_copy):
    edit(smoke_copy, "plotting")
    assert set(planned_jobs(smoke_copy)) == FIGURE_RULES | {"all"}


def test_tables_edit_rebuilds_the_tables_only(smoke_copy):
    """And the regularization figure, whose answer ranks the runs by the experiment's table."""
    edit(smoke_copy, "tables")
    jobs = planned_jobs(smoke_copy)
    assert set(jobs) == {"experiment_table", "parameter_table", "regularization_figure", "all"}
    assert jobs["experiment_table"] == len(smoke_config()["experiments"])


def test_engine_edit_retrains_every_job_and_what_reads_them(smoke_copy):
    edit(smoke_copy, "engine")
    jobs = planned_jobs(smoke_copy)
    assert jobs["train"] == len(smoke_study_plan().jobs) and jobs["final_model"] == 1
    assert not set(jobs) & (DATA_RULES | {"data_figures", "parameter_table"})
    # The peer's trees do not train with the engine: only the network's jobs and what reads them.
    assert set(jobs) == set(planned_jobs(smoke_copy, "--forceall")) - DATA_RULES - {
        "data_figures",
        "parameter_table",
        "benchmark_peer",
    }


def test_runs_edit_leaves_the_peer_and_the_data_alone(smoke_copy):
    """The peer's trees read no run: an edit to runs.py reruns the network's side only."""
    edit(smoke_copy, "runs")
    jobs = set(planned_jobs(smoke_copy))
    assert {"train", "benchmark_inner", "final_model", "experiment_table"} <= jobs
    assert not jobs & (DATA_RULES | {"benchmark_peer"})


def test_dataset_edit_reruns_everything_that_reads_the_table(smoke_copy):
    edit(smoke_copy, "dataset")
    assert planned_jobs(smoke_copy) == planned_jobs(smoke_copy, "--forceall")


def test_evaluation_edit_reruns_the_final_model_and_the_benchmark_only(smoke_copy):
    edit(smoke_copy, "evaluation")
    expected = {"final_model", "final_figures", "benchmark_figure", "summary", "all"}
    expected |= BENCHMARK_RULES
    assert set(planned_jobs(smoke_copy)) == expected


def test_benchmark_edit_rescores_the_benchmark_only(smoke_copy):
    edit(smoke_copy, "benchmark")
    assert set(planned_jobs(smoke_copy)) == {
        "benchmark_retrain",
        "benchmark_summary",
        "benchmark_figure",
        "summary",
        "all",
    }


def test_protocol_edit_reruns_the_benchmark_and_the_final_model(smoke_copy):
    """One protocol builds both: an edit of it reruns both, and neither the peer nor the study."""
    edit(smoke_copy, "protocol")
    final = {"final_model", "final_figures"}
    assert set(planned_jobs(smoke_copy)) == BENCHMARK_RULES | final | {"benchmark_figure", "summary", "all"}


def test_full_config_plans_every_job(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    out = snakemake(repo, "--cores", "2", "-n").stdout
    jobs = len(expand_study(load(ROOT / "config" / "config.yaml")).jobs)
    assert re.search(rf"^train\s+{jobs}$", out, re.M), out[-2000:]
    assert re.search(r"^final_model\s+1$", out, re.M)


def test_a_figures_experiment_renamed_stops_in_one_line_or_keeps_its_figures(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    path = repo / "config" / "config.yaml"
    text = path.read_text()
    experiment = "  depth:                               # Task 5.2"
    assert experiment in text
    path.write_text(text.replace(experiment, "  deep:  # Task 5.2"))
    proc = snakemake(repo, "-n", check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("config error")]
    assert proc.returncode != 0 and errors == [
        "config error: config key 'figures.depth.experiment': value 'depth' is not an experiment; expected "
        "one of ['architectures', 'batch_size', 'deep', 'optimizers', 'regularization', 'schedulers']"
    ]
    path.write_text(
        text.replace(experiment, "  deep:  # Task 5.2").replace("experiment: depth", "experiment: deep")
    )
    out = snakemake(repo, "-n").stdout
    assert re.search(r"^depth_gradient_figure\s+3$", out, re.M) and "depth_first_layer_gradient.png" in out


def test_download_rule_fetches_checks_and_validates_the_archive(tmp_path):
    """Without the raw file, the workflow downloads the archive (here from a local server)."""
    repo = copy_repo(tmp_path / "repo")
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "concrete.zip", "w") as zf:
        zf.write(RAW, "Concrete_Data.xls")
    (repo / "data" / "Concrete_Data.xls").unlink()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(served)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(re.search(r"port (\d+)", server.stdout.readline()).group(1))
        config = yaml.safe_load((repo / "config" / "smoke.yaml").read_text())
        config["dataset"]["url"] = f"http://127.0.0.1:{port}/concrete.zip"
        (repo / "config" / "smoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        snakemake(repo, "results/smoke/data/clean.csv", *SMOKE)
        assert (repo / "data" / "Concrete_Data.xls").read_bytes() == RAW.read_bytes()
        assert (repo / "results" / "smoke" / "data" / "clean.csv").exists()
        # A file with the wrong content never lands under its final name.
        (repo / "data" / "Concrete_Data.xls").unlink()
        with zipfile.ZipFile(served / "concrete.zip", "w") as zf:
            zf.writestr("Concrete_Data.xls", b"not the dataset")
        proc = snakemake(repo, "data/Concrete_Data.xls", *SMOKE, check=False)
        assert proc.returncode != 0 and "Concrete_Data.xls: md5 " in proc.stderr
        assert not (repo / "data" / "Concrete_Data.xls").exists()
    finally:
        server.terminate()
        server.wait()


def test_the_critical_path_is_a_chain_of_the_run_s_jobs(smoke_study):
    """benchmarks/critical_path.py reads Snakemake's records: its chain starts at a job that waits
    on none, each job reads an output of the one before, and it is no shorter than the longest
    job and no longer than the run itself."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "critical_path.py"), "--repo", str(smoke_study)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    wall = float(re.search(r"wall (\d+) s", proc.stdout).group(1))
    spec = importlib.util.spec_from_file_location("critical_path", ROOT / "benchmarks" / "critical_path.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    jobs = module.jobs(smoke_study)
    length, chain = module.critical_path(jobs)
    produced = {path for job in jobs.values() for path in job["outputs"]}
    assert not chain[0]["inputs"] & produced
    assert all(before["outputs"] & after["inputs"] for before, after in itertools.pairwise(chain))
    durations = [job["end"] - job["start"] for job in jobs.values()]
    assert length == pytest.approx(sum(job["end"] - job["start"] for job in chain))
    assert max(durations) <= length <= wall + 1
    assert f"critical path {length:.0f} s" in proc.stdout
