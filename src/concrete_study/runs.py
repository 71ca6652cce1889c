"""From experiments in the config to runs (one resolved set of hyperparameters) and jobs.

A run id is a readable slug of its hyperparameters. A job trains one run for all seeds; runs that
differ only in epochs and whose schedule does not depend on the total (none, step) share the job
at the largest budget, their results read from its history.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from concrete_study.errors import ConfigError

RUN_KEYS = (
    "hidden",
    "optimizer",
    "lr",
    "momentum",
    "scheduler",
    "step_size",
    "gamma",
    "batch_size",
    "epochs",
    "standardize_target",
)
BUILTIN_BASE = {
    "hidden": [128, 64],
    "optimizer": "adam",
    "lr": 1.0e-2,
    "momentum": 0.0,
    "scheduler": "none",
    "step_size": 10,
    "gamma": 0.5,
    "batch_size": 64,
    "epochs": 300,
    "standardize_target": False,
}
# Schedules whose learning rate at epoch k does not depend on the total number of epochs.
EPOCH_INDEPENDENT = {"none", "step"}


def canonical(run: dict) -> dict:
    """Plain types, fixed key order, and no key that the optimizer or scheduler ignores.

    Snakemake compares params between runs: 1 vs 1.0 or a stray momentum would cause reruns.
    """
    out = {
        "hidden": [int(w) for w in run["hidden"]],
        "optimizer": str(run["optimizer"]),
        "lr": float(run["lr"]),
        "scheduler": str(run["scheduler"]),
        "batch_size": int(run["batch_size"]),
        "epochs": int(run["epochs"]),
        "standardize_target": bool(run["standardize_target"]),
    }
    if out["optimizer"] == "sgd_momentum":
        out["momentum"] = float(run["momentum"])
    if out["scheduler"] == "step":
        out["step_size"] = int(run["step_size"])
        out["gamma"] = float(run["gamma"])
    return {k: out[k] for k in RUN_KEYS if k in out}


def _num(x: float) -> str:
    return f"{x:g}"


def hidden_slug(hidden: list[int]) -> str:
    """[128, 64] -> '128-64'; [128]*4 -> '128-128-128-128'; [32]*8 -> '32x8'."""
    if len(hidden) > 4 and len(set(hidden)) == 1:
        return f"{hidden[0]}x{len(hidden)}"
    return "-".join(str(w) for w in hidden)


def run_id(run: dict) -> str:
    """A readable slug, for example 'h128-64_adam_lr0.01_bs64_e300'."""
    parts = [f"h{hidden_slug(run['hidden'])}", run["optimizer"]]
    if run["optimizer"] == "sgd_momentum":
        parts[-1] = f"sgdm{_num(run['momentum'])}"
    parts.append(f"lr{_num(run['lr'])}")
    if run["scheduler"] == "step":
        parts.append(f"step{run['step_size']}-{_num(run['gamma'])}")
    elif run["scheduler"] == "cosine":
        parts.append("cos")
    parts.append(f"bs{run['batch_size']}")
    if run["standardize_target"]:
        parts.append("ystd")
    parts.append(f"e{run['epochs']}")
    return "_".join(parts)


def job_key(run: dict) -> tuple:
    """Runs with equal keys are trained by one job."""
    if run["scheduler"] in EPOCH_INDEPENDENT:
        return tuple((k, str(v)) for k, v in run.items() if k != "epochs")
    return tuple((k, str(v)) for k, v in run.items())


def grid_runs(base: dict, grid: dict) -> list[dict]:
    """The cartesian product of a grid's value lists, each applied over `base`."""
    grid = dict(grid)
    if "width" in grid:
        widths, depths = grid.pop("width"), grid.pop("depth")
        grid["hidden"] = [[w] * d for w in widths for d in depths]
    keys = list(grid)
    return [
        canonical(base | dict(zip(keys, values, strict=True)))
        for values in itertools.product(*(grid[k] for k in keys))
    ]


@dataclass
class Study:
    """The runs of every experiment and the jobs that train them."""

    runs: dict[str, dict] = field(default_factory=dict)  # run id -> run
    experiments: dict[str, list[str]] = field(default_factory=dict)  # name -> run ids
    jobs: dict[str, dict] = field(default_factory=dict)  # job id -> run it trains
    job_of: dict[str, str] = field(default_factory=dict)  # run id -> job id
    figures: dict[str, list[str]] = field(default_factory=dict)  # figure -> run ids

    def job_for(self, run: dict) -> str:
        return self.job_of[run_id(run)]


def resolve(config: dict, overrides: dict | None = None, base: str = "default") -> dict:
    """A run from a named base of the config plus overrides."""
    return canonical(BUILTIN_BASE | config["bases"][base] | (overrides or {}))


def expand_study(config: dict) -> Study:
    """Expand every experiment (and the runs the figures name) into runs and jobs."""
    study = Study()
    for name, experiment in config["experiments"].items():
        base = BUILTIN_BASE | config["bases"][experiment.get("base", "default")]
        ids: set[str] = set()
        for grid in experiment["grids"]:
            for run in grid_runs(base, grid):
                study.runs[run_id(run)] = run
                ids.add(run_id(run))
        # Sorted: the order of keys in the config must not change params (and cause reruns).
        study.experiments[name] = sorted(ids)
    figures = config.get("figures", {})
    for fig in ("learning_curves", "optimizer_curves"):
        picked = [resolve(config, o) for o in figures.get(fig, [])]
        for i, run in enumerate(picked):
            if run_id(run) not in study.runs:
                raise ConfigError(
                    f"config key 'figures.{fig}[{i}]': run {run_id(run)!r} is in no experiment; "
                    "add it to an experiment's grid"
                )
        study.figures[fig] = [run_id(r) for r in picked]
    if "inspected" in figures:
        # The weights and gradients figure may name a run that no sweep trains.
        run = resolve(config, figures["inspected"])
        study.runs.setdefault(run_id(run), run)
        study.figures["inspected"] = [run_id(run)]

    groups: dict[tuple, list[str]] = {}
    for rid, run in study.runs.items():
        groups.setdefault(job_key(run), []).append(rid)
    for members in groups.values():
        longest = max(members, key=lambda r: study.runs[r]["epochs"])
        for rid in members:
            study.job_of[rid] = longest
        study.jobs[longest] = study.runs[longest]
    return study
