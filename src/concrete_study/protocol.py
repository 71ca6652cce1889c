"""The protocol that builds a model on one split and tests it once: used by the standard
benchmark on each published split and by the final model on the study's split.

A split is four sets of row positions: `inner_train` and `inner_val` (disjoint), `train` (all
the training rows: both of them) and `test`. The candidates train on the inner training rows
(scaler fitted there) and the one whose seed ensemble predicts the inner validation rows best is
chosen; those rows' residuals calibrate the interval; the choice retrains on all the training rows
(scaler refitted there) and looks at the test rows once. The benchmark's splits are the published
90/10 ones with an inner 80/20 split of their training rows; the study's split is train / val /
train+val / test. The replicas of every split and seed of one candidate train side by side in one
process, each on its own rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from concrete_study.data import fit_and_scale
from concrete_study.files import atomic_path
from concrete_study.records import seed_key
from concrete_study.runs import Run

if TYPE_CHECKING:
    from concrete_study.dataset import Dataset
    from concrete_study.model_file import Ensemble


def study_split(split: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The study's train/val/test split as the protocol's one split, stacked like the benchmark's."""
    parts = {
        "inner_train": split["train"],
        "inner_val": split["val"],
        "train": np.concatenate([split["train"], split["val"]]),
        "test": split["test"],
    }
    return {key: rows[None] for key, rows in parts.items()}


def _train_splits(run: Run, seeds: list[int], parts: list[tuple], device: str):
    """Train every (split, seed) replica side by side, split-major: replica s * K + k, keeping
    the weights and predictions at the run's members (Run.members).

    `parts` holds per split (x_train, y_train, x_val, y_val), or (x_train, y_train) where
    nothing is validated."""
    from concrete_study.engine import train  # torch: not for the jobs that only read predictions

    stack = [np.repeat(np.stack(arrays), len(seeds), axis=0) for arrays in zip(*parts, strict=True)]
    x_val, y_val = stack[2:] or (None, None)
    # Validated after the members' epochs only: nothing reads the other epochs' validation.
    kept = {"snapshot_epochs": run.members, "every_epoch_validated": False}
    return train(run, seeds * len(parts), *stack[:2], x_val, y_val, device=device, **kept)


def inner_predictions(
    run: Run, seeds: list[int], table: pd.DataFrame, dataset: Dataset, splits: dict, device: str
) -> dict[str, np.ndarray]:
    """Train the candidate on each split's inner training rows (scaler fitted there); return its
    inner-validation predictions per seed, (splits, seeds, rows), and those rows' target,
    (splits, rows)."""
    parts = []
    for inner_train, inner_val in zip(splits["inner_train"], splits["inner_val"], strict=True):
        parts_rows = {"fit": inner_train, "val": inner_val}
        _, a = fit_and_scale(table, parts_rows, fit="fit", dataset=dataset, inputs=run.inputs)
        parts.append((a["X_fit"], a["y_fit"], a["X_val"], a["y_val"]))
    result = _train_splits(run, seeds, parts, device)
    return {
        "predictions": result.member_predictions(run.members)
        .reshape(len(parts), len(seeds), -1)
        .astype(np.float64),
        "y_val": np.stack([table.iloc[rows][dataset.target].to_numpy() for rows in splits["inner_val"]]),
    }


def write_inner(path, numbers: list[int], inner: dict[str, np.ndarray]) -> None:
    """One job's `inner_predictions` for the splits `numbers`, as `read_inner` reads it."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, splits=np.asarray(numbers), **inner)


def read_inner(paths: list, names: list[str]) -> dict[str, dict]:
    """Each candidate's inner predictions over all splits, from the files of its jobs: `paths`
    lists them candidate by candidate (the same number each), each candidate's in split order."""
    per_candidate = len(paths) // len(names)
    inner = {}
    for i, name in enumerate(names):
        parts = []
        for path in paths[i * per_candidate : (i + 1) * per_candidate]:
            with np.load(path) as npz:
                parts.append(dict(npz))
        numbers = np.concatenate([p["splits"] for p in parts])
        if not np.array_equal(numbers, np.arange(len(numbers))):
            found = numbers.tolist()
            raise ValueError(f"{name}: the inner files hold splits {found}, not 0-{len(numbers) - 1}")
        inner[name] = {
            "y_val": np.concatenate([p["y_val"] for p in parts]),
            "predictions": np.concatenate([p["predictions"] for p in parts]),
        }
    return inner


def select(candidates: dict[str, dict], runs: dict[str, Run]) -> list[dict]:
    """Per split, the candidate whose seed ensemble has the lowest inner-validation MSE (ties:
    the first). `candidates` maps a name to `inner_predictions`' output, `runs` to its Run."""
    y_val = next(iter(candidates.values()))["y_val"]
    chosen = []
    for s in range(len(y_val)):
        best = None
        for name, inner in candidates.items():
            mse = float(np.mean((inner["predictions"][s].mean(axis=0) - y_val[s]) ** 2))
            if best is None or mse < best["inner_val_mse"]:
                best = {"split": s, "candidate": name, "epochs": runs[name].epochs, "inner_val_mse": mse}
        chosen.append(best)
    return chosen


def retrain(
    run: Run, seeds: list[int], table: pd.DataFrame, dataset: Dataset, splits: dict, device: str
) -> list[Ensemble]:
    """The candidate retrained on all training rows of each split (scaler refitted there), every
    split and seed side by side: one seed ensemble a split. Nothing is held out, so nothing is
    validated."""
    from concrete_study.model_file import Ensemble

    parts, scalers = [], []
    for train_rows in splits["train"]:
        scaler, a = fit_and_scale(table, {"fit": train_rows}, fit="fit", dataset=dataset, inputs=run.inputs)
        parts.append((a["X_fit"], a["y_fit"]))
        scalers.append(scaler)
    weights = _train_splits(run, seeds, parts, device).member_weights(run.members)
    names = [seed_key(s) for s in seeds]
    return [
        Ensemble(
            run,
            scaler,
            dict(zip(names, weights[i * len(seeds) : (i + 1) * len(seeds)], strict=True)),
            dataset.derived,
        )
        for i, scaler in enumerate(scalers)
    ]
