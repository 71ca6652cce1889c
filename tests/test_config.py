"""Config validation: every bad value is one line naming the key, the value and the expectation."""

import copy

import pytest
import yaml
from conftest import ROOT, SMOKE, snakemake

from concrete_study.config import ConfigError, load, read_yaml, validate
from concrete_study.runs import Run

SMOKE_CONFIG = read_yaml(ROOT / "config" / "smoke.yaml")


def with_change(path: str, value):
    config = copy.deepcopy(SMOKE_CONFIG)
    *parents, last = path.split(".")
    node = config
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return config


DELETE = object()

BAD = [
    ("base.learning_rate", 0.1, "'base.learning_rate': unknown key"),
    ("base.lr", "fast", "'base.lr': value 'fast' is not of type 'number'"),
    ("base.lr", "1e-3", "write 1.0e-3"),
    ("base.lr", -0.1, "'base.lr': value -0.1 must be > 0"),
    ("base.lr", 0, "'base.lr': value 0 must be > 0"),
    ("experiments.optimizers.grids.1.momentum", [1.0], "momentum[0]': value 1.0 must be < 1"),
    ("experiments.optimizers.grids.1.momentum", [-0.5], "momentum[0]': value -0.5 must be >= 0"),
    ("base.hidden", [], "'base.hidden': value [] must not be empty"),
    ("base.hidden", [16, 0], "'base.hidden[1]': value 0 must be >= 1"),
    ("split.val", 0.3, "fractions train 0.7 + val 0.3 + test 0.15 = 1.15, expected 1"),
    (
        "base.optimizer",
        "rmsprop",
        "'base.optimizer': value 'rmsprop' is not one of",
    ),
    (
        "base.scheduler",
        "plateau",
        "'base.scheduler': value 'plateau' is not one of",
    ),
    ("seeds", 0, "'seeds': value 0 must be >= 1"),
    (
        "experiments.depth.base",
        "deep",
        "'experiments.depth.base': unknown key; allowed keys: columns, grids, title",
    ),
    (
        "experiments.depth.columns",
        ["momentum"],
        "'experiments.depth.columns[0]': value 'momentum' is not one of",
    ),
    (
        "experiments.depth.columns",
        ["gap", "gap"],
        "'experiments.depth.columns': value ['gap', 'gap'] names an item twice",
    ),
    ("device", "tpu", "'device': value 'tpu' is not one of"),
    ("experiments.depth.grids.0.width", DELETE, "width and depth go together"),
    ("figures.learning_curves.0.hidden", [999], "is in no experiment"),
    ("base.epochs", 2.5, "'base.epochs': value 2.5 is not of type 'integer'"),
    ("base.optimizer", "sgd_momentum", "config key 'base': run {"),
    ("final.run", {}, "'final.run': unknown key"),  # the final model's candidates are the benchmark's
    ("benchmark.candidates.1", {"optimizer": "sgd_momentum"}, "needs 0 < momentum < 1, got 0"),
    ("benchmark.candidates.1", {"epochs": 0}, "'benchmark.candidates[1].epochs': value 0 must be >= 1"),
    ("interval_level", 1.0, "'interval_level': value 1.0 must be < 1"),
    ("benchmark.splits", 0, "'benchmark.splits': value 0 must be >= 1"),
    ("dataset.target", DELETE, "config key 'dataset': 'target' is a required property"),
    ("dataset.file", 3, "'dataset.file': value 3 is not of type 'string'"),
    ("dataset.bounds.age", {"over": 0}, "'dataset.bounds.age.over': unknown key; allowed keys: above, below"),
    ("dataset.derived.log_age", 2, "'dataset.derived.log_age': value 2 is not of type 'string'"),
    ("dataset.md5", "abc", "'dataset.md5': value 'abc'"),
    ("data", {"raw": "x.xls"}, "config key 'data': unknown key"),  # the table is described by `dataset`
    # A figure's experiment must exist and hold the runs it shows.
    ("figures.schedules", "schedules", "'figures.schedules': value 'schedules' is not an experiment"),
    ("figures.depth.experiment", "deep", "'figures.depth.experiment': value 'deep' is not an experiment"),
    (
        "figures.depth.gradients.1",
        4,
        "'figures.depth.gradients[1]': experiment 'depth' has no run of 4 hidden",
    ),
    ("figures.depth.experiment", "architectures", "experiment 'architectures' must have one run per depth"),
    ("figures.regularization", "depth", "experiment 'depth' has no run with dropout or weight_decay"),
    (
        "experiments.regularization.grids.0.dropout",
        [0.2],
        "'figures.regularization': experiment 'regularization' has no unregularized run 'h16-8_adam_lr0.01",
    ),
]


@pytest.mark.parametrize("key, value, message", BAD, ids=[f"{k}={v!r}" for k, v, _ in BAD])
def test_bad_values_are_named(key, value, message):
    with pytest.raises(ConfigError) as err:
        validate(with_change(key, value))
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_defaults_are_filled_and_the_real_configs_pass():
    config = validate(SMOKE_CONFIG)
    assert config["threads"] == 1 and config["final"]["bootstrap"] == 50
    full = load(ROOT / "config" / "config.yaml")
    assert full["seeds"] == 5 and full["split"]["train"] == 0.70 and full["base"] == {}
    assert full["figures"]["depth"]["predictions"] == [128, 16] and full["interval_level"] == 0.9


def test_config_files_do_not_repeat_a_default():
    """Each default has one home: the schema, or Run for a run's hyperparameters."""
    defaults = validate(
        {"dataset": {"file": "t.csv", "target": "y"}, "experiments": {"one": {"grids": [{"lr": [1.0e-2]}]}}}
    )
    run_defaults = Run().params()
    for name in ("config.yaml", "smoke.yaml"):
        config = read_yaml(ROOT / "config" / name)
        for key, value in config.items():
            if isinstance(value, dict) and key in defaults and key not in ("base", "experiments", "figures"):
                repeated = {k for k, v in value.items() if defaults[key].get(k) == v}
            else:
                repeated = {key} if defaults.get(key) == value else set()
            assert not repeated, f"{name}: {key} {sorted(repeated)} repeat the schema's default"
        same = {k for k, v in config.get("base", {}).items() if run_defaults.get(k) == v}
        assert not same, f"{name}: base {sorted(same)} repeat Run's defaults"


def test_duplicate_keys_are_rejected(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("experiments:\n  a: {grids: [{lr: [0.1]}]}\n  a: {grids: [{lr: [0.2]}]}\n")
    with pytest.raises(ConfigError, match="duplicate key 'a' at line 3"):
        read_yaml(path)


@pytest.mark.slow
def test_snakemake_refuses_a_bad_config_before_any_job(smoke_copy):
    """A typo stops the real workflow with one line and leaves earlier results untouched."""
    before = {p: p.read_bytes() for p in (smoke_copy / "results" / "smoke").rglob("*") if p.is_file()}
    config = yaml.safe_load((smoke_copy / "config" / "smoke.yaml").read_text())
    config["base"]["learning_rate"] = 0.1
    (smoke_copy / "config" / "smoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(smoke_copy, *SMOKE, check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("config error")]
    assert errors == [
        "config error: config key 'base.learning_rate': unknown key; allowed keys: "
        "batch_size, dropout, embedding, epochs, frequency_scales, gamma, hidden, inputs, lr, momentum, "
        "optimizer, scheduler, snapshots, standardize_target, step_size, weight_decay"
    ]
    after = {p: p.read_bytes() for p in (smoke_copy / "results" / "smoke").rglob("*") if p.is_file()}
    assert after == before
