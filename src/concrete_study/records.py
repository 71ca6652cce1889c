"""What a training job writes and how its history becomes table rows.

history.csv holds one row per (epoch, seed); the rows of a run with fewer epochs than its job are
the first epochs of that history, which is exact for schedules that ignore the total budget.
What a job writes into results/runs/ is the same bytes on every run (dvc.lock pins it); the wall
time goes to a file of its own beside the job's log (write_times), which no result reads.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from concrete_study.files import atomic_path

if TYPE_CHECKING:  # training jobs import this module but not pandas: it costs a second
    import pandas as pd

HISTORY_COLUMNS = ["epoch", "seed", "train_mse", "val_mse", "lr"]
TIME_COLUMNS = ["epoch", "time_sec"]


def seed_key(seed: int) -> str:
    """How a seed is named in every file: weights, predictions, metrics."""
    return f"seed_{seed}"


def job_metrics(result, run, seeds: list[int], threads: int) -> dict:
    """A training job's metrics.json: the run, its size and each seed's outcome."""
    import torch

    best = {}
    for r, s in enumerate(seeds):
        val = result.val_mse[:, r]
        best[seed_key(s)] = None if np.isnan(val).all() else float(np.nanmin(val))
    return {
        "run": run.params(),
        "seeds": seeds,
        "parameters": result.parameters,
        "device": result.device,
        "threads": threads,
        "torch": torch.__version__,
        "diverged_at_epoch": {seed_key(s): d for s, d in zip(seeds, result.diverged_at, strict=True)},
        "best_val_mse": best,
    }


def write_history(path: str | Path, result, seeds: list[int]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HISTORY_COLUMNS)
        for e in range(len(result.lr)):
            for r, seed in enumerate(seeds):
                out.writerow(
                    [
                        e + 1,
                        seed,
                        repr(float(result.train_mse[e, r])),
                        repr(float(result.val_mse[e, r])),
                        repr(float(result.lr[e])),
                    ]
                )


def write_times(path: str | Path, result) -> None:
    """The job's wall time by epoch (the whole stack's, cumulative): a log, not a result."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(TIME_COLUMNS)
        for e, seconds in enumerate(result.time_sec):
            out.writerow([e + 1, f"{seconds:.4f}"])


def write_gradients(path: str | Path, grads: np.ndarray, layer_names, seeds) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["layer_index", "layer", "seed", "mean_abs_grad"])
        for i, name in enumerate(layer_names):
            for r, seed in enumerate(seeds):
                out.writerow([i, name, seed, repr(float(grads[i, r]))])


def write_val_predictions(path: str | Path, preds: np.ndarray, y_val: np.ndarray, seeds) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["row", "true", *[seed_key(s) for s in seeds]])
        for i, y in enumerate(y_val):
            out.writerow([i, repr(float(y)), *[repr(float(p)) for p in preds[:, i]]])


def run_history(history: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """The history of a run of `epochs` epochs: the first epochs of its job's history, sorted by
    seed and epoch. Exact for schedules that ignore the total budget (see runs.EPOCH_INDEPENDENT)."""
    h = history[history["epoch"] <= epochs].sort_values(["seed", "epoch"])
    short = h.groupby("seed")["epoch"].count()
    if (short < epochs).any():
        raise ValueError(f"history has {short.min()} epochs, the run needs {epochs}")
    return h


def run_rows(history: pd.DataFrame, epochs: int) -> list[dict]:
    """Per-seed results of a run of `epochs` epochs, from its job's history."""
    rows = []
    for seed, h in run_history(history, epochs).groupby("seed", sort=True):
        diverged = bool(h["val_mse"].isna().any() or h["train_mse"].isna().any())
        val = h["val_mse"].to_numpy()
        rows.append(
            {
                "seed": int(seed),
                "final_train_loss": float(h["train_mse"].iloc[-1]),
                "final_val_loss": float(val[-1]),
                "best_val_loss": float(np.nanmin(val)) if not np.isnan(val).all() else math.nan,
                "best_epoch": int(np.nanargmin(val)) + 1 if not np.isnan(val).all() else 0,
                "diverged": diverged,
            }
        )
    return rows
