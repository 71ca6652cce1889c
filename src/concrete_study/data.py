"""The dataset: reading the raw file, validation, summary, split and the standardiser."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from concrete_study.errors import DataError
from concrete_study.files import check_md5
from concrete_study.inputs import FEATURES, derive
from concrete_study.markdown import markdown_table

# The original header text (double spaces and the trailing space included) -> short name.
RAW_COLUMNS = {
    "Cement (component 1)(kg in a m^3 mixture)": "cement",
    "Blast Furnace Slag (component 2)(kg in a m^3 mixture)": "slag",
    "Fly Ash (component 3)(kg in a m^3 mixture)": "fly_ash",
    "Water  (component 4)(kg in a m^3 mixture)": "water",
    "Superplasticizer (component 5)(kg in a m^3 mixture)": "superplasticizer",
    "Coarse Aggregate  (component 6)(kg in a m^3 mixture)": "coarse_aggregate",
    "Fine Aggregate (component 7)(kg in a m^3 mixture)": "fine_aggregate",
    "Age (day)": "age",
    "Concrete compressive strength(MPa, megapascals) ": "strength",
}
TARGET = "strength"
COLUMNS = [*FEATURES, TARGET]
UNITS = {name: "kg/m³" for name in FEATURES[:7]} | {"age": "days", "strength": "MPa"}


def read_raw(path: str | Path) -> pd.DataFrame:
    """Read the original UCI .xls file and return it with short column names, validated."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        raw = pd.read_excel(path, engine="calamine")
    except Exception as exc:  # calamine raises several types for corrupt files
        raise DataError(f"{path}: not a readable Excel file ({exc.__class__.__name__})") from None
    _check_columns(list(raw.columns), list(RAW_COLUMNS), str(path))
    return validate_table(raw.rename(columns=RAW_COLUMNS)[COLUMNS], source=str(path))


def _check_columns(present: list[str], expected: list[str], source: str) -> None:
    """Exactly the expected columns: name the first missing or unexpected one."""
    wanted = ", ".join(repr(c) for c in expected)
    missing = [c for c in expected if c not in present]
    if missing:
        raise DataError(f"{source}: missing column {missing[0]!r} (expected {wanted})")
    extra = [c for c in present if c not in expected]
    if extra:
        raise DataError(f"{source}: unexpected column {extra[0]!r} (expected {wanted})")


def validate_table(table: pd.DataFrame, source: str, columns: list[str] = COLUMNS) -> pd.DataFrame:
    """Check that `table` has exactly `columns`, numeric, complete, non-negative, age > 0.

    Returns the table as float64 in the order of `columns`; raises DataError naming `source`.
    """
    _check_columns(list(table.columns), columns, source)
    if len(table) == 0:
        raise DataError(f"{source}: no data rows")
    out = pd.DataFrame(index=range(len(table)))
    for col in columns:
        values = pd.to_numeric(table[col].reset_index(drop=True), errors="coerce")
        bad = values.isna() & table[col].reset_index(drop=True).notna()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{source}: column {col!r} row {row + 1}: non-numeric value {table[col].iloc[row]!r}"
            )
        if values.isna().any():
            row = int(np.flatnonzero(values.isna())[0])
            raise DataError(f"{source}: column {col!r} row {row + 1}: missing value")
        if not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(f"{source}: column {col!r} row {row + 1}: value is not finite")
        if (values < 0).any():
            row = int(np.flatnonzero(values < 0)[0])
            raise DataError(f"{source}: column {col!r} row {row + 1}: negative amount {values[row]}")
        out[col] = values.astype("float64")
    if "age" in out and (out["age"] <= 0).any():
        row = int(np.flatnonzero(out["age"] <= 0)[0])
        raise DataError(f"{source}: column 'age' row {row + 1}: age must be > 0 days")
    return out


def check_raw_md5(path: str | Path, expected: str | None) -> None:
    """Refuse a raw file whose content is not the expected one (before any job replaces results)."""
    path = Path(path)
    if expected is None or not path.is_file():
        return
    check_md5(
        path.read_bytes(),
        expected,
        path,
        "(config key 'data.md5'): the file is not the study's dataset; restore it with "
        "`dvc checkout data.dvc` or `dvc pull`, or set data.md5 to null to use another file",
    )


def read_clean(path: str | Path) -> pd.DataFrame:
    """Read the clean CSV written by the ingest step."""
    return validate_table(pd.read_csv(path), source=str(path))


def summarize_data(table: pd.DataFrame) -> dict:
    """Rows, columns, exact duplicate rows, per-column statistics and target statistics."""
    columns = {
        col: {
            "min": float(table[col].min()),
            "max": float(table[col].max()),
            "mean": float(table[col].mean()),
            "std": float(table[col].std(ddof=1)),
            "unit": UNITS[col],
        }
        for col in table.columns
    }
    target = table[TARGET]
    return {
        "rows": int(len(table)),
        "columns": int(table.shape[1]),
        "features": FEATURES,
        "target": TARGET,
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
    lines += [
        "",
        f"Target `{summary['target']}` (MPa): mean {t['mean']:.4f}, std {t['std']:.4f}, "
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
    table: pd.DataFrame, split: dict[str, np.ndarray], scaler: Standardiser
) -> dict[str, np.ndarray]:
    """X_<part> (the scaler's inputs, standardised, float32) and y_<part> (strength in MPa) for
    each part."""
    arrays = {}
    for part, rows in split.items():
        frame = table.iloc[rows]
        arrays[f"X_{part}"] = scaler.transform(derive(frame, scaler.columns)).astype(np.float32)
        arrays[f"y_{part}"] = frame[TARGET].to_numpy(dtype=np.float32)
    return arrays


def fit_and_scale(
    table: pd.DataFrame, parts: dict[str, np.ndarray], fit: str, columns: list[str] = FEATURES
) -> tuple[Standardiser, dict[str, np.ndarray]]:
    """A standardiser of `columns` (raw or derived inputs) fitted on the rows of part `fit` only,
    and `scaled_arrays` of every part."""
    scaler = Standardiser.fit(derive(table.iloc[parts[fit]], columns))
    return scaler, scaled_arrays(table, parts, scaler)


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
