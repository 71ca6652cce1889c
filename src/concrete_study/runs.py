"""From experiments in the config to runs (one resolved set of hyperparameters) and jobs.

A run is a frozen `Run`; its id is a readable slug of its hyperparameters. A job trains one run
for all seeds; runs that differ only in epochs and whose schedule does not depend on the total
(none, step) share the job at the largest budget, their results read from its history.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from concrete_study.errors import ConfigError
from concrete_study.records import run_history

if TYPE_CHECKING:  # the Snakefile imports this module: pandas only where a table is read
    import pandas as pd

# A periodic embedding's size (layers.PeriodicEmbedding), fixed: trainable frequencies per input, and values
# per input that the MLP reads. Here, not there, so that a run's scales are checked without
# making everything that reads runs depend on the embedding's code.
FREQUENCIES = 8
WIDTH = 8
# Schedules whose learning rate at epoch k does not depend on the total number of epochs.
EPOCH_INDEPENDENT = ("none", "step")
# Keys that only one setting of another key uses: the key -> (that key, that value).
USED_ONLY_WITH = {
    "momentum": ("optimizer", "sgd_momentum"),
    "step_size": ("scheduler", "step"),
    "gamma": ("scheduler", "step"),
    "frequency_scales": ("embedding", "periodic"),
}
# Keys added after the original study: left out of params at their defaults, so that the
# original's runs keep their ids and params.
OPTIONAL = ("inputs", "weight_decay", "dropout", "embedding", "frequency_scales", "snapshots")


def _num(x: float) -> str:
    return f"{x:g}"


def hidden_slug(hidden) -> str:
    """[128, 64] -> '128-64'; [128]*4 -> '128-128-128-128'; [32]*8 -> '32x8'."""
    if len(hidden) > 4 and len(set(hidden)) == 1:
        return f"{hidden[0]}x{len(hidden)}"
    return "-".join(str(w) for w in hidden)


@dataclass(frozen=True)
class Run:
    """One training configuration. Its defaults are the original study's choices, written only
    here; the config's `base` overrides them, and config/schema.yaml says which values each key
    takes. A key that the run does not use (USED_ONLY_WITH) is reset to its default, so two runs
    that train the same way are equal (and get one id, one job)."""

    hidden: tuple[int, ...] = (128, 64)
    optimizer: str = "adam"  # sgd, sgd_momentum or adam
    lr: float = 1.0e-2
    momentum: float = 0.0
    scheduler: str = "none"  # none, step (StepLR) or cosine
    step_size: int = 10  # StepLR period in epochs
    gamma: float = 0.5  # StepLR factor
    batch_size: int = 64
    epochs: int = 300
    standardize_target: bool = False
    inputs: str = "raw"  # the raw inputs, or with the table's derived ones (Dataset.columns)
    weight_decay: float = 0.0  # adam: decoupled (AdamW); sgd: an L2 term in the gradient
    dropout: float = 0.0  # the rate of a dropout after each hidden ReLU (layers.Dropout)
    embedding: str = "none"  # none, or periodic (layers.PeriodicEmbedding)
    # The initial frequencies' standard deviations, each input's frequencies split evenly among
    # them (layers.PeriodicEmbedding.initial)
    frequency_scales: tuple[float, ...] = (0.1,)
    # Earlier epochs after which each seed also keeps its weights: it predicts the mean of those
    # models' predictions and its last's (a snapshot ensemble)
    snapshots: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        put = object.__setattr__
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, tuple):
                put(self, f.name, tuple(type(f.default[0] if f.default else 1)(v) for v in value))
            else:
                put(self, f.name, type(f.default)(value))
        problem = self._problem()
        if problem:
            raise ConfigError(f"run {self.params()}: {problem}")
        for key in USED_ONLY_WITH:
            if not self.uses(key):
                put(self, key, getattr(Run, key))

    def uses(self, key: str) -> bool:
        """Whether this run's training reads `key`."""
        other = USED_ONLY_WITH.get(key)
        return other is None or getattr(self, other[0]) == other[1]

    def _problem(self) -> str | None:
        """What the schema cannot check: one key against another."""
        if not self.frequency_scales or FREQUENCIES % len(self.frequency_scales):
            return (
                f"frequency_scales: {len(self.frequency_scales)} scales do not split the "
                f"{FREQUENCIES} frequencies per input evenly"
            )
        if list(self.snapshots) != sorted(set(self.snapshots)) or any(
            not 1 <= e < self.epochs for e in self.snapshots
        ):
            return (
                f"snapshots must list epochs in increasing order, each from 1 to below epochs "
                f"({self.epochs}), got {list(self.snapshots)}"
            )
        if self.optimizer == "sgd_momentum" and not 0 < self.momentum < 1:
            return f"optimizer sgd_momentum needs 0 < momentum < 1, got {self.momentum:g}"
        return None

    def params(self) -> dict:
        """Plain types in a fixed order, without the keys this run does not use nor the optional
        ones at their defaults: what Snakemake compares between runs (1 vs 1.0 or a stray
        momentum would cause reruns)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if self.uses(f.name) and not (f.name in OPTIONAL and value == f.default):
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @property
    def members(self) -> tuple[int, ...]:
        """The epochs after which the weights a seed's model averages are taken: its snapshots
        and its last epoch."""
        return (*self.snapshots, self.epochs)

    @property
    def id(self) -> str:
        """A readable slug, for example 'h128-64_adam_lr0.01_bs64_e300' (with derived inputs and a
        standardised target: 'h128-64_adam_lr0.01_bs64_ystd_derived_e300')."""
        opt = f"sgdm{_num(self.momentum)}" if self.uses("momentum") else self.optimizer
        parts = [f"h{hidden_slug(self.hidden)}", opt, f"lr{_num(self.lr)}"]
        if self.uses("step_size"):
            parts.append(f"step{self.step_size}-{_num(self.gamma)}")
        elif self.scheduler == "cosine":
            parts.append("cos")
        parts.append(f"bs{self.batch_size}")
        if self.weight_decay:
            parts.append(f"wd{_num(self.weight_decay)}")
        if self.dropout:
            parts.append(f"drop{_num(self.dropout)}")
        if self.standardize_target:
            parts.append("ystd")
        if self.inputs != "raw":
            parts.append(self.inputs)
        if self.embedding != "none":
            parts.append(self.embedding)
        if self.frequency_scales != Run.frequency_scales:
            parts.append("f" + "-".join(_num(f) for f in self.frequency_scales))
        if self.snapshots:
            parts.append("snap" + "-".join(str(e) for e in self.snapshots))
        parts.append(f"e{self.epochs}")
        return "_".join(parts)

    def with_epochs(self, epochs: int) -> Run:
        return dataclasses.replace(self, epochs=epochs)

    def unregularized(self) -> Run:
        """This run without dropout and weight decay."""
        return dataclasses.replace(self, dropout=0.0, weight_decay=0.0)

    def job_key(self) -> Run:
        """Runs with equal keys are trained by one job: the epochs drop out (all set to 1) where
        the schedule does not depend on them."""
        return self.with_epochs(1) if self.scheduler in EPOCH_INDEPENDENT else self


def grid_runs(base: dict, grid: dict) -> list[Run]:
    """The cartesian product of a grid's value lists, each applied over `base`."""
    grid = dict(grid)
    if "width" in grid:
        widths, depths = grid.pop("width"), grid.pop("depth")
        grid["hidden"] = [[w] * d for w in widths for d in depths]
    keys = list(grid)
    return [
        Run(**(base | dict(zip(keys, values, strict=True))))
        for values in itertools.product(*(grid[k] for k in keys))
    ]


@dataclass
class Study:
    """The runs of every experiment, the jobs that train them, and the runs each output reads.

    Outputs that read training runs are named 'table/<experiment>', 'learning_curves',
    'optimizer_curves', 'schedules', 'regularization', 'inspected', 'depth_first_layer',
    'depth_gradients/<d>' and 'depth_predictions/<d>'; an output the config does not ask for is
    absent.
    """

    runs: dict[str, Run] = field(default_factory=dict)  # run id -> run
    experiments: dict[str, list[str]] = field(default_factory=dict)  # name -> run ids
    jobs: dict[str, Run] = field(default_factory=dict)  # job id -> run it trains
    job_of: dict[str, str] = field(default_factory=dict)  # run id -> job id
    reads: dict[str, list[str]] = field(default_factory=dict)  # output -> run ids, in its order

    def jobs_of(self, run_ids) -> list[str]:
        """The jobs that train these runs, each once, sorted."""
        return sorted({self.job_of[r] for r in run_ids})

    def runs_read_by(self, output: str) -> list[str]:
        """The run ids that `output` reads, in the order it shows them."""
        if output not in self.reads:
            raise KeyError(f"the study has no output {output!r}; it has {sorted(self.reads)}")
        return self.reads[output]


def resolve(config: dict, overrides: dict | None = None) -> Run:
    """A run from the config's base plus overrides."""
    return Run(**(config["base"] | (overrides or {})))


def _experiment(study: Study, name, key: str) -> list[str]:
    """The runs of the experiment a config key names."""
    if name not in study.experiments:
        raise ConfigError(
            f"config key {key!r}: value {name!r} is not an experiment; "
            f"expected one of {sorted(study.experiments)}"
        )
    return study.experiments[name]


def _depth_reads(study: Study, figure: dict) -> dict[str, list[str]]:
    """The depth figures' runs: one per depth, from an experiment of nets of one width."""
    by_depth: dict[int, str] = {}
    for rid in _experiment(study, figure["experiment"], "figures.depth.experiment"):
        hidden = study.runs[rid].hidden
        if len(hidden) in by_depth or len(set(hidden)) > 1:
            raise ConfigError(
                f"config key 'figures.depth.experiment': experiment {figure['experiment']!r} must have "
                f"one run per depth, each of one width; run {rid!r} is not"
            )
        by_depth[len(hidden)] = rid
    reads = {"depth_first_layer": [by_depth[d] for d in sorted(by_depth)]}
    for kind in ("gradients", "predictions"):
        for i, depth in enumerate(figure[kind]):
            if depth not in by_depth:
                raise ConfigError(
                    f"config key 'figures.depth.{kind}[{i}]': experiment {figure['experiment']!r} has no "
                    f"run of {depth} hidden layers; it has {sorted(by_depth)}"
                )
            reads[f"depth_{kind}/{depth}"] = [by_depth[depth]]
    return reads


def _regularization_reads(study: Study, name) -> list[str]:
    """The regularization figure's runs: an experiment where each architecture (a run less its
    dropout and weight decay) has its unregularized run and at least one regularized."""
    key = "figures.regularization"
    ids = _experiment(study, name, key)
    plain = {study.runs[rid].unregularized().id for rid in ids}
    if missing := sorted(plain - set(ids)):
        raise ConfigError(
            f"config key {key!r}: experiment {name!r} has no unregularized run {missing[0]!r} "
            "(dropout and weight_decay 0) to compare its regularized runs with"
        )
    if plain == set(ids):
        raise ConfigError(f"config key {key!r}: experiment {name!r} has no run with dropout or weight_decay")
    return ids


def _single_weights(run: Run, key: str) -> None:
    """The study's tables and figures read one set of weights per seed: no snapshots."""
    if run.snapshots:
        raise ConfigError(
            f"config key {key!r}: run {run.id!r} keeps snapshots, which only the benchmark's "
            "candidates may: the study's tables and figures read one set of weights"
        )


def expand_study(config: dict) -> Study:
    """Expand every experiment (and the runs the figures name) into runs and jobs, and name the
    runs that every table and figure reads."""
    study = Study()
    for name, experiment in config["experiments"].items():
        base = config["base"]
        ids: set[str] = set()
        for i, grid in enumerate(experiment["grids"]):
            try:
                runs = grid_runs(base, grid)
            except ConfigError as exc:
                raise ConfigError(f"config key 'experiments.{name}.grids[{i}]': {exc}") from None
            for run in runs:
                _single_weights(run, f"experiments.{name}.grids[{i}]")
                study.runs[run.id] = run
                ids.add(run.id)
        # Sorted: the order of keys in the config must not change params (and cause reruns).
        study.experiments[name] = sorted(ids)
        study.reads[f"table/{name}"] = study.experiments[name]
    figures = config.get("figures", {})
    for fig in ("learning_curves", "optimizer_curves"):
        picked = [resolve(config, o) for o in figures.get(fig, [])]
        for i, run in enumerate(picked):
            if run.id not in study.runs:
                raise ConfigError(
                    f"config key 'figures.{fig}[{i}]': run {run.id!r} is in no experiment; "
                    "add it to an experiment's grid"
                )
        study.reads[fig] = [r.id for r in picked]
    if figures.get("schedules") is not None:
        study.reads["schedules"] = _experiment(study, figures["schedules"], "figures.schedules")
    if figures.get("regularization") is not None:
        study.reads["regularization"] = _regularization_reads(study, figures["regularization"])
    if figures.get("depth") is not None:
        study.reads |= _depth_reads(study, figures["depth"])
    if "inspected" in figures:
        # The weights and gradients figure may name a run that no sweep trains.
        run = resolve(config, figures["inspected"])
        _single_weights(run, "figures.inspected")
        study.runs.setdefault(run.id, run)
        study.reads["inspected"] = [run.id]

    groups: dict[Run, list[str]] = {}
    for rid, run in study.runs.items():
        groups.setdefault(run.job_key(), []).append(rid)
    for members in groups.values():
        longest = max(members, key=lambda r: study.runs[r].epochs)
        for rid in members:
            study.job_of[rid] = longest
        study.jobs[longest] = study.runs[longest]
    return study


def read_runs(reads: list[dict]) -> list[tuple[str, Run, pd.DataFrame]]:
    """The runs an output reads, each {"id", "run" (its params), "history" (its job's file)}:
    the id, the Run and the run's rows of that history. Each file is read once."""
    import pandas as pd

    files: dict[str, pd.DataFrame] = {}
    out = []
    for read in reads:
        run = Run(**read["run"])
        if read["history"] not in files:
            files[read["history"]] = pd.read_csv(read["history"])
        out.append((read["id"], run, run_history(files[read["history"]], run.epochs)))
    return out
