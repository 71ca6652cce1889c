"""Experiments expand to runs with readable ids; epoch variants share one job."""

from conftest import ROOT

from concrete_study.config import load
from concrete_study.runs import BUILTIN_BASE, canonical, expand_study, grid_runs, run_id


def test_run_ids_are_readable_and_canonical():
    run = canonical(BUILTIN_BASE)
    assert run_id(run) == "h128-64_adam_lr0.01_bs64_e300"
    assert "momentum" not in run and "step_size" not in run
    sgdm = canonical(BUILTIN_BASE | {"optimizer": "sgd_momentum", "momentum": 0.9, "lr": 2e-3})
    assert run_id(sgdm) == "h128-64_sgdm0.9_lr0.002_bs64_e300"
    step = canonical(BUILTIN_BASE | {"scheduler": "step", "lr": 1, "epochs": 10})
    assert run_id(step) == "h128-64_adam_lr1_step10-0.5_bs64_e10"
    assert isinstance(step["lr"], float)
    assert run_id(canonical(BUILTIN_BASE | {"hidden": [32] * 128})).startswith("h32x128_")


def test_grid_is_a_cartesian_product_and_width_depth_build_hidden():
    runs = grid_runs(BUILTIN_BASE, {"hidden": [[8], [8, 8]], "epochs": [1, 2, 3]})
    assert len(runs) == 6
    deep = grid_runs(BUILTIN_BASE, {"width": [32], "depth": [1, 4]})
    assert [r["hidden"] for r in deep] == [[32], [32, 32, 32, 32]]


def test_full_study_shares_runs_and_merges_epoch_variants():
    study = expand_study(load(ROOT / "config" / "config.yaml"))
    assert len(study.experiments["architectures"]) == 48
    assert len(study.experiments["optimizers"]) == 36
    default = "h128-64_adam_lr0.01_bs64_e300"
    # The default run belongs to several experiments and trains once.
    for name in ("architectures", "optimizers", "batch_size", "schedulers"):
        assert default in study.experiments[name]
    assert study.job_of["h128-64_adam_lr0.01_bs64_e100"] == default
    assert study.job_of["h128-64_sgd_lr0.0001_bs64_e250"] == "h128-64_sgd_lr0.0001_bs64_e300"
    # Cosine depends on the total number of epochs: never merged.
    cos = [r for r in study.runs if "_cos_" in r]
    assert cos and all(study.job_of[r] == r for r in cos)
    # Every run maps to a job that trains at least its epochs with otherwise equal params.
    for rid, job in study.job_of.items():
        a, b = dict(study.runs[rid]), dict(study.jobs[job])
        assert a.pop("epochs") <= b.pop("epochs") and a == b
    assert len(study.jobs) < len(study.runs)
