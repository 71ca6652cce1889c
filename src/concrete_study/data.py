"""The clean table: summary, split, the standardiser and the baselines (dataset.py reads it)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from concrete_study.errors import DataError
from concrete_study.files import check_md5
from concrete_study.inputs import derive

if TYPE_CHECKING:
    from concrete_study.dataset import Dataset
from concrete_study.markdown import markdown_table


def check_file_md5(path: str | Path, expected: str | None) -> None:
    """Refuse a table file whose content is not the expected one (before any job replaces results)."""
    path = Path(path)
    if expected is None or not path.is_file():
        return
    check_md5(
        path.read_bytes(),
        expected,
        path,
        "(config key 'dataset.md5'): the file is not the study's table; restore it with "
        "`dvc checkout data.dvc` or `dvc pull`, or set dataset.md5 to null to use another file",
    )


def read_clean(path: str | Path) -> pd.DataFrame:
    """Read the clean CSV written by the ingest step: the raw inputs, then the target."""
    return pd.read_csv(path).astype("float64")


def summarize_data(table: pd.DataFrame, dataset: Dataset) -> dict:
    """Rows, columns, exact duplicate rows, per-column statistics and target statistics."""
    columns = {
        col: {
            "min": float(table[col].min()),
            "max": float(table[col].max()),
            "mean": float(table[col].mean()),
            "std": float(table[col].std(ddof=1)),
            "unit": dataset.unit(col),
        }
        for col in table.columns
    }
    target = table[dataset.target]
    return {
        "rows": int(len(table)),
        "columns": int(table.shape[1]),
        "features": dataset.features,
        "target": dataset.target,
        "duplicate_rows": int(table.duplicated().sum()),
        "missing_values": int(table.isna().sum().sum()),
        "column_stats": columns,
        "target_stats": {
            "mean": float(target.mean()),
            "std": float(target.std(ddof=1)),
            "variance": float(target.var(ddof=1)),
            "median": float(target.median()),
            "min": float(target.min()),
            "max": float(target.max()),
        },
    }


def summary_markdown(summary: dict) -> str:
    """The summary as a Markdown page."""
    lines = [
        "# Data summary",
        "",
        f"- rows: {summary['rows']}",
        f"- columns: {summary['columns']} ({len(summary['features'])} inputs, target `{summary['target']}`)",
        f"- exact duplicate rows: {summary['duplicate_rows']}",
        f"- missing values: {summary['missing_values']}",
        "",
        *markdown_table(
            ["column", "unit", "min", "max", "mean", "std"],
            [
                [name, s["unit"], *(f"{s[k]:.2f}" for k in ("min", "max", "mean", "std"))]
                for name, s in summary["column_stats"].items()
            ],
            "llrrrr",
        ),
    ]
    t = summary["target_stats"]
    unit = summary["column_stats"][summary["target"]]["unit"]
    lines += [
        "",
        f"Target `{summary['target']}`{f' ({unit})' if unit else ''}: mean {t['mean']:.4f}, "
        f"std {t['std']:.4f}, "
        f"variance {t['variance']:.2f}, median {t['median']:.2f}, range "
        f"{t['min']:.2f} to {t['max']:.2f}.",
        "",
    ]
    return "\n".join(lines)


def split_indices(n_rows: int, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """A seeded random split of row positions 0..n_rows-1 into train, val and test.

    Sizes are rounded so that they add up to n_rows; each part is sorted.
    """
    total = sum(fractions.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ValueError(f"split fractions must sum to 1, got {total}")
    order = np.random.default_rng(seed).permutation(n_rows)
    n_train = round(fractions["train"] * n_rows)
    n_val = round(fractions["val"] * n_rows)
    return {
        "train": np.sort(order[:n_train]),
        "val": np.sort(order[n_train : n_train + n_val]),
        "test": np.sort(order[n_train + n_val :]),
    }


# The fewest rows a part may have: val and test rows score, calibrate and bootstrap.
MIN_PART_ROWS = 10


def check_split_sizes(n_rows: int, split: dict, source: str) -> None:
    """Enough rows for the study's split (`split`: the config's fractions) and for the
    benchmark's 90/10 splits: each part at least MIN_PART_ROWS, or one DataError saying which."""
    fractions = {k: float(split[k]) for k in ("train", "val", "test")}
    parts = {p: len(r) for p, r in split_indices(n_rows, fractions, 0).items()}
    parts["benchmark test"] = round(0.1 * n_rows)
    small = [(p, n) for p, n in parts.items() if n < MIN_PART_ROWS]
    if small:
        part, n = small[0]
        raise DataError(
            f"{source}: too few rows for the split: {n_rows} rows give {part} {n} rows; "
            f"each part needs at least {MIN_PART_ROWS}"
        )


@dataclass
class Standardiser:
    """Per-feature (x - mean) / std, fitted on one set of rows only."""

    columns: list[str]
    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> Standardiser:
        std = frame.std(ddof=0)
        if (std == 0).any():
            raise DataError(f"column {std.index[std == 0][0]!r} is constant: cannot standardise")
        return cls(list(frame.columns), [float(v) for v in frame.mean()], [float(v) for v in std])

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[self.columns].to_numpy(dtype=np.float64)
        return (values - np.asarray(self.mean)) / np.asarray(self.std)

    def to_dict(self) -> dict:
        return {"columns": self.columns, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, d: dict) -> Standardiser:
        return cls(list(d["columns"]), [float(v) for v in d["mean"]], [float(v) for v in d["std"]])

    def save(self, path: str | Path) -> None:
        from concrete_study.files import write_text

        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Standardiser:
        return cls.from_dict(json.loads(Path(path).read_text()))


def scaled_arrays(
    table: pd.DataFrame, split: dict[str, np.ndarray], scaler: Standardiser, dataset: Dataset
) -> dict[str, np.ndarray]:
    """X_<part> (the scaler's inputs, standardised, float32) and y_<part> (the target) for each
    part."""
    arrays = {}
    for part, rows in split.items():
        frame = table.iloc[rows]
        x = derive(frame, scaler.columns, dataset.derived, "the table")
        arrays[f"X_{part}"] = scaler.transform(x).astype(np.float32)
        arrays[f"y_{part}"] = frame[dataset.target].to_numpy(dtype=np.float32)
    return arrays


def fit_and_scale(
    table: pd.DataFrame, parts: dict[str, np.ndarray], fit: str, dataset: Dataset, inputs: str = "raw"
) -> tuple[Standardiser, dict[str, np.ndarray]]:
    """A standardiser of the columns a run with `inputs` reads (raw, or raw and derived: the one
    path for a run's inputs) fitted on the rows of part `fit` only, and `scaled_arrays` of every
    part."""
    columns = dataset.columns(inputs)
    scaler = Standardiser.fit(derive(table.iloc[parts[fit]], columns, dataset.derived, "the table"))
    return scaler, scaled_arrays(table, parts, scaler, dataset)


def baselines(arrays: dict[str, np.ndarray]) -> dict:
    """MSE of the mean predictor (training mean) and of ordinary least squares, val and test."""
    x_train = np.asarray(arrays["X_train"], dtype=np.float64)
    y_train = np.asarray(arrays["y_train"], dtype=np.float64)
    design = np.column_stack([np.ones(len(x_train)), x_train])
    coef, *_ = np.linalg.lstsq(design, y_train, rcond=None)
    mean = float(y_train.mean())
    out: dict = {"train_mean": mean, "linear_coefficients": [float(c) for c in coef]}
    for part in ("train", "val", "test"):
        if f"X_{part}" not in arrays:
            continue
        x = np.asarray(arrays[f"X_{part}"], dtype=np.float64)
        y = np.asarray(arrays[f"y_{part}"], dtype=np.float64)
        pred = np.column_stack([np.ones(len(x)), x]) @ coef
        out[f"mean_mse_{part}"] = float(np.mean((y - mean) ** 2))
        out[f"linear_mse_{part}"] = float(np.mean((y - pred) ** 2))
    return out


def read_study_split(files: dict[str, str | Path]) -> dict[str, np.ndarray]:
    """Read the index files written by the split step (one row position per line)."""
    return {part: np.loadtxt(path, dtype=np.int64, ndmin=1) for part, path in files.items()}
