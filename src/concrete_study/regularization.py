"""What a regularization experiment shows: each architecture without regularization and at its best
regularization, and whether that lets the largest architecture win (its figure and caption)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from concrete_study.dataset import Dataset
from concrete_study.runs import Run, hidden_slug


@dataclass
class Architecture:
    """A run less its dropout and weight decay: its table row, its best regularized row, and the
    best row of each kind of regularization it has (weight decay alone, dropout)."""

    name: str
    parameters: int
    plain: pd.Series
    best: pd.Series
    kinds: list[pd.Series]


def _key(row: pd.Series) -> float:
    """What ranks rows: the mean best validation loss; a run whose every seed diverged, last."""
    value = row["best_val_loss_mean"]
    return math.inf if math.isnan(value) else value


def _best(rows: pd.DataFrame) -> pd.Series:
    """The row of `rows` that ranks first."""
    return min((row for _, row in rows.iterrows()), key=_key)


def architectures(table: pd.DataFrame, runs: dict[str, Run]) -> list[Architecture]:
    """Each architecture of an experiment's table (tables.experiment_table, run id -> Run), the
    largest first."""
    by_plain: dict[str, list[int]] = {}
    for i, rid in enumerate(table["run"]):
        by_plain.setdefault(runs[rid].unregularized().id, []).append(i)
    # Named by their layers, or by run id where two differ in more than their layers.
    by_layers = len({runs[p].hidden for p in by_plain}) == len(by_plain)
    found = []
    for plain_id, rows in by_plain.items():
        group = table.iloc[rows]
        plain = group[group["run"] == plain_id].iloc[0]
        name = f"[{hidden_slug(runs[plain_id].hidden)}]" if by_layers else plain_id
        regularized = group[group["run"] != plain_id]
        kinds = [regularized[regularized["dropout"] == 0], regularized[regularized["dropout"] > 0]]
        best = [_best(kind) for kind in kinds if len(kind)]
        found.append(Architecture(name, int(plain["parameters"]), plain, min(best, key=_key), best))
    return sorted(found, key=lambda a: (-a.parameters, a.name))


def setting(row: pd.Series) -> str:
    """How a row is regularized, in words."""
    return f"dropout {row['dropout']:g}, weight decay {row['weight_decay']:g}"


def _mse(row: pd.Series, unit: str) -> str:
    std = "" if math.isnan(row["best_val_loss_std"]) else f" ± {row['best_val_loss_std']:.2f}"
    return f"{row['best_val_loss_mean']:.2f}{std}{unit}"


def _difference(better: pd.Series, worse: pd.Series, unit: str) -> str:
    """How far `better` is ahead of `worse`, with the unit and in percent of `worse`: '1.20 <unit>
    (4.1%), within the seeds' spread', within where less than the larger standard deviation."""
    margin = worse["best_val_loss_mean"] - better["best_val_loss_mean"]
    spread = max(better["best_val_loss_std"], worse["best_val_loss_std"])
    by = f"{abs(margin):.2f}{unit} ({abs(margin) / worse['best_val_loss_mean'] * 100:.1f}%)"
    if math.isnan(spread):  # one seed: no spread to compare with
        return by
    return f"{by}, {'within' if abs(margin) < spread else 'beyond'} the seeds' spread"


def verdict(found: list[Architecture], dataset: Dataset) -> str:
    """The caption's answer, in plain sentences: does regularization let the largest architecture
    win (the lowest mean best validation MSE), and by how much."""
    unit = f" {dataset.mse_unit()}" if dataset.mse_unit() else ""
    largest, others = found[0], found[1:]
    text = (
        "Best validation MSE, mean ± std over seeds; a difference is within the seeds' spread where it "
        f"is less than the larger of the two standard deviations. The largest architecture, {largest.name} "
        f"({largest.parameters:,} parameters), reaches {_mse(largest.plain, unit)} without regularization "
        f"and {_mse(largest.best, unit)} at its best regularization ({setting(largest.best)}): "
        f"{'better' if _key(largest.best) < _key(largest.plain) else 'worse'} by "
        f"{_difference(largest.best, largest.plain, unit)}. Its train-validation gap moves from "
        f"{largest.plain['gap_mean']:.2f} to {largest.best['gap_mean']:.2f}{unit}."
    )
    if not others:
        return text
    plain_rival = min(others, key=lambda a: _key(a.plain))
    rival = min(others, key=lambda a: _key(a.best))
    text += (
        f" The best of the others is {plain_rival.name} at {_mse(plain_rival.plain, unit)} without "
        f"regularization, and {rival.name} at {_mse(rival.best, unit)} at its best ({setting(rival.best)})."
    )
    won = _key(largest.plain) < _key(plain_rival.plain)
    if _key(largest.best) < _key(rival.best):
        if won:
            return (
                f"{text} The largest architecture wins with and without regularization: without, by "
                f"{_difference(largest.plain, plain_rival.plain, unit)}; with each at its best, by "
                f"{_difference(largest.best, rival.best, unit)}."
            )
        by = _difference(largest.best, rival.best, unit)
        return f"{text} Regularization lets the largest architecture win, by {by}."
    lost = "costs the largest architecture its win" if won else "does not let the largest architecture win"
    return f"{text} Regularization {lost}: it ends behind, by {_difference(rival.best, largest.best, unit)}."
