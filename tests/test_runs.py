"""Experiments expand to runs with readable ids; epoch variants share one job."""

import dataclasses
import re

import pytest
import yaml
from conftest import ROOT

from concrete_study.config import load
from concrete_study.errors import ConfigError
from concrete_study.runs import USED_ONLY_WITH, Run, expand_study, grid_runs


def test_run_ids_are_readable_and_canonical():
    run = Run()
    assert run.id == "h128-64_adam_lr0.01_bs64_e300"
    assert "momentum" not in run.params() and "step_size" not in run.params()
    sgdm = Run(optimizer="sgd_momentum", momentum=0.9, lr=2e-3)
    assert sgdm.id == "h128-64_sgdm0.9_lr0.002_bs64_e300"
    step = Run(scheduler="step", lr=1, epochs=10)
    assert step.id == "h128-64_adam_lr1_step10-0.5_bs64_e10"
    assert isinstance(step.params()["lr"], float) and step.params()["hidden"] == [128, 64]
    assert Run(hidden=[32] * 128).id.startswith("h32x128_")
    assert Run(weight_decay=1e-2).id == "h128-64_adam_lr0.01_bs64_wd0.01_e300"
    assert "weight_decay" not in run.params() and Run(weight_decay=1e-2).params()["weight_decay"] == 0.01
    embedded = Run(embedding="periodic", frequency_scales=[0.1, 1])
    assert embedded.id == "h128-64_adam_lr0.01_bs64_periodic_f0.1-1_e300"
    assert embedded.params()["frequency_scales"] == [0.1, 1.0] and Run(**embedded.params()) == embedded
    assert "frequency_scales" not in Run(embedding="periodic").params()
    snap = Run(epochs=300, snapshots=[100, 200.0])
    assert snap.id == "h128-64_adam_lr0.01_bs64_snap100-200_e300" and snap.members == (100, 200, 300)
    assert snap.params()["snapshots"] == [100, 200] and Run(**snap.params()) == snap
    assert "snapshots" not in run.params() and run.members == (300,)
    # Keys the optimizer, scheduler or embedding ignores do not make two equal trainings differ.
    assert Run(momentum=0.5, gamma=0.1, frequency_scales=[1.0]) == Run() and Run(**Run().params()) == Run()


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"optimizer": "sgd_momentum"}, "needs 0 < momentum < 1, got 0"),
        ({"embedding": "periodic", "frequency_scales": []}, "0 scales do not split the 8"),
        ({"embedding": "periodic", "frequency_scales": [0.1, 0.3, 1.0]}, "3 scales do not split the 8"),
        ({"epochs": 10, "snapshots": [5, 10]}, "each from 1 to below epochs \\(10\\), got \\[5, 10\\]"),
        ({"snapshots": [200, 100]}, "snapshots must list epochs in increasing order"),
        ({"snapshots": [100, 100]}, "snapshots must list epochs in increasing order"),
        ({"snapshots": [0]}, "each from 1 to below epochs"),
    ],
)
def test_a_run_that_cannot_train_is_refused(kw, message):
    """What one key says about another; each key's own values and ranges are the schema's."""
    with pytest.raises(ConfigError, match=message):
        Run(**kw)


def test_each_key_s_values_are_checked_by_the_schema_alone():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())["definitions"]["run"]["properties"]
    assert schema["optimizer"]["enum"] == ["sgd", "sgd_momentum", "adam"]
    assert schema["scheduler"]["enum"] == ["none", "step", "cosine"]
    assert set(schema) == {f.name for f in dataclasses.fields(Run)}
    for key, (other, value) in USED_ONLY_WITH.items():
        assert value in schema[other]["enum"], key


@pytest.mark.parametrize("where", ["base", "inspected"])
def test_the_study_refuses_snapshots(where):
    """Its tables and figures read one set of weights per seed: snapshots there are an error."""
    config = load(ROOT / "config" / "config.yaml")
    if where == "base":
        config["base"] = config["base"] | {"snapshots": [100]}
        key = "experiments.batch_size.grids[0]"  # the first experiment
    else:
        config["figures"]["inspected"] = {"snapshots": [100]}
        key = "figures.inspected"
    with pytest.raises(ConfigError, match=f"config key '{re.escape(key)}': run .* keeps snapshots"):
        expand_study(config)


def test_grid_is_a_cartesian_product_and_width_depth_build_hidden():
    runs = grid_runs({}, {"hidden": [[8], [8, 8]], "epochs": [1, 2, 3]})
    assert len(runs) == 6
    deep = grid_runs({}, {"width": [32], "depth": [1, 4]})
    assert [r.hidden for r in deep] == [(32,), (32, 32, 32, 32)]


def test_full_study_shares_runs_and_merges_epoch_variants():
    study = expand_study(load(ROOT / "config" / "config.yaml"))
    assert len(study.experiments["architectures"]) == 48
    assert len(study.experiments["optimizers"]) == 36
    default = "h128-64_adam_lr0.01_bs64_e300"
    # The default run belongs to several experiments and trains once.
    for name in ("architectures", "optimizers", "batch_size", "schedulers", "regularization"):
        assert default in study.experiments[name]
    # Task 7: 2 architectures x 4 dropouts x 3 weight decays; the unregularized ones are the
    # architecture sweep's, and the figure reads every run.
    regularized = study.experiments["regularization"]
    assert len(regularized) == 24 and "h128-128-128-128_adam_lr0.01_bs64_e300" in regularized
    assert "h128-128-128-128_adam_lr0.01_bs64_wd0.001_drop0.3_e300" in regularized
    assert study.reads["regularization"] == regularized
    assert study.job_of["h128-64_adam_lr0.01_bs64_e100"] == default
    assert study.job_of["h128-64_sgd_lr0.0001_bs64_e250"] == "h128-64_sgd_lr0.0001_bs64_e300"
    # Cosine depends on the total number of epochs: never merged.
    cos = [r for r in study.runs if "_cos_" in r]
    assert cos and all(study.job_of[r] == r for r in cos)
    # Every run maps to a job that trains at least its epochs with otherwise equal params.
    for rid, job in study.job_of.items():
        run, trained = study.runs[rid], study.jobs[job]
        assert run.epochs <= trained.epochs and run.with_epochs(trained.epochs) == trained
    assert len(study.jobs) < len(study.runs)
