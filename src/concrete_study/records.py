"""What a training job writes and how its history becomes table rows.

history.csv holds one row per (epoch, seed); the rows of a run with fewer epochs than its job are
the first epochs of that history, which is exact for schedules that ignore the total budget.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from concrete_study.io import atomic_path

HISTORY_COLUMNS = ["epoch", "seed", "train_mse", "val_mse", "lr", "time_sec"]


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
                        f"{result.time_sec[e]:.4f}",
                    ]
                )


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
        out.writerow(["row", "true", *[f"seed_{s}" for s in seeds]])
        for i, y in enumerate(y_val):
            out.writerow([i, repr(float(y)), *[repr(float(p)) for p in preds[:, i]]])


def run_rows(history, epochs: int) -> list[dict]:
    """Per-seed results of a run of `epochs` epochs, from its job's history (a DataFrame)."""
    rows = []
    for seed, h in history[history["epoch"] <= epochs].groupby("seed", sort=True):
        h = h.sort_values("epoch")
        if len(h) < epochs:
            raise ValueError(f"history has {len(h)} epochs, the run needs {epochs}")
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
                "train_time_sec": float(h["time_sec"].iloc[-1]),
            }
        )
    return rows
