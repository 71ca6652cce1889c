"""The study's table as the config describes it (`dataset`), read and checked before any job.

The library knows no dataset: a table's facts (its file, target, renames, units, bounds, derived
inputs, the input the data figures show) come from the config's `dataset` section, and `Dataset`
carries them to every step that needs them (as a Snakemake param, and inside the model file).
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from concrete_study.errors import DataError
from concrete_study.inputs import derive, evaluate, parse

# A bound's key -> the test a value must pass, and how a refusal reads.
BOUNDS = {
    "min": (np.greater_equal, ">="),
    "above": (np.greater, ">"),
    "max": (np.less_equal, "<="),
    "below": (np.less, "<"),
}


@dataclass(frozen=True)
class Dataset:
    """A regression table's facts: the raw inputs in the file's order (columns with a single value
    left out), the target, units, bounds, derived inputs (name -> expression, inputs.py) and the
    input that the data figures show."""

    name: str
    target: str
    features: list[str]
    units: dict[str, str] = field(default_factory=dict)
    bounds: dict[str, dict[str, float]] = field(default_factory=dict)
    derived: dict[str, str] = field(default_factory=dict)
    figure_input: str = ""
    left_out: list[str] = field(default_factory=list)  # columns of one value

    def columns(self, inputs: str) -> list[str]:
        """The columns a run with `inputs` (raw or derived) reads: the derived ones follow the raw
        ones; a table without derived inputs reads the raw ones either way."""
        return [*self.features, *self.derived] if inputs == "derived" else list(self.features)

    def unit(self, column: str) -> str:
        return self.units.get(column, "")

    def label(self, column: str) -> str:
        """A column as an axis or a table names it: `load (kWh/m²)`, or `quality`."""
        unit = self.unit(column)
        return f"{column} ({unit})" if unit else column

    def in_unit(self, text: str) -> str:
        """A heading in the target's unit: `test RMSE (kWh/m²)`, or `test RMSE`."""
        unit = self.unit(self.target)
        return f"{text} ({unit})" if unit else text

    def amount(self, number: str) -> str:
        """A number in the target's unit: `5.9 kWh/m²`, or `5.9`."""
        unit = self.unit(self.target)
        return f"{number} {unit}" if unit else number

    def mse_unit(self) -> str:
        """The unit of an MSE: `<unit>²`, or "" where the target has no unit."""
        unit = self.unit(self.target)
        return f"{unit}²" if unit else ""

    def mse_label(self) -> str:
        """`MSE (<unit>²)`, or `MSE` where the target has no unit."""
        return f"MSE ({self.mse_unit()})" if self.mse_unit() else "MSE"

    def lower_bound(self) -> float | None:
        """The value below which no target can lie, where the config declares one: intervals are
        clipped there."""
        bound = self.bounds.get(self.target, {})
        values = [bound[k] for k in ("min", "above") if k in bound]
        return max(values) if values else None

    def inputs_only(self) -> Dataset:
        """What training reads of the table (its inputs, target and derived inputs), without what
        only labels show: a job given this is not rerun by an edit of units or names."""
        return replace(self, name="", units={}, bounds={}, figure_input="")

    def params(self) -> dict:
        """Plain dicts and lists, for Snakemake's params and a model file; units and bounds in
        sorted order, so that reordering them in the config reruns nothing (the derived inputs'
        order is the order of the network's inputs: it stays)."""
        params = asdict(self)
        for key in ("units", "bounds"):
            params[key] = dict(sorted(params[key].items()))
        return params

    @classmethod
    def from_params(cls, params: dict) -> Dataset:
        return cls(**params)

    def check_rows(self, frame: pd.DataFrame, source: str) -> pd.DataFrame:
        """New rows (for `predict`): exactly the raw inputs (the target, and the columns of one
        value, may stay and are dropped), numeric, complete, within bounds; float64."""
        extra = [
            c for c in frame.columns if c not in self.features and c not in (self.target, *self.left_out)
        ]
        missing = [c for c in self.features if c not in frame.columns]
        wanted = ", ".join(self.features)
        if missing:
            raise DataError(f"{source}: missing column {missing[0]!r} (expected {wanted})")
        if extra:
            raise DataError(f"{source}: unexpected column {extra[0]!r} (expected {wanted})")
        if len(frame) == 0:
            raise DataError(f"{source}: no data rows")
        rows = numeric(frame[self.features], source)
        check_bounds(rows, self.bounds, source)
        derive(rows, self.columns("derived"), self.derived, source)  # undefined ones, named by row
        return rows


def numeric(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Every column as float64; the first non-numeric, missing or infinite value is one
    DataError naming the column and the row (1-based, data rows)."""
    out = pd.DataFrame(index=range(len(frame)))
    for col in frame.columns:
        given = frame[col].reset_index(drop=True)
        values = pd.to_numeric(given, errors="coerce")
        bad = values.isna() & given.notna()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{source}: column {col!r} row {row + 1}: non-numeric value {given.iloc[row]!r}")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna())[0])
            raise DataError(f"{source}: column {col!r} row {row + 1}: missing value")
        if not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(f"{source}: column {col!r} row {row + 1}: value is not finite")
        out[col] = values.astype("float64")
    return out


def check_bounds(frame: pd.DataFrame, bounds: dict[str, dict[str, float]], source: str) -> None:
    """Every declared bound of a column in `frame` holds on every row."""
    for col, bound in bounds.items():
        if col not in frame.columns:
            continue
        for key, limit in bound.items():
            test, sign = BOUNDS[key]
            ok = test(frame[col].to_numpy(), limit)
            if not ok.all():
                row = int(np.flatnonzero(~ok)[0])
                raise DataError(
                    f"{source}: column {col!r} row {row + 1}: {frame[col].iloc[row]:g} is not "
                    f"{sign} {limit:g} (dataset.bounds.{col}.{key})"
                )


def _header(path: Path) -> list[str]:
    """The file's column names as written (pandas renames a repeated name: read them first)."""
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            return next(csv.reader(fh, skipinitialspace=True), [])
    return [str(c) for c in pd.read_excel(path, engine="calamine", header=None, nrows=1).iloc[0]]


def read_file(path: str | Path) -> pd.DataFrame:
    """The table in `path` (CSV with a header row, or Excel .xls/.xlsx), as written: columns
    named by its header, values not yet checked."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (dataset.file)")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xls", ".xlsx"):
        raise DataError(f"{path}: expected a .csv, .xls or .xlsx file (dataset.file)")
    try:
        header = _header(path)
        if suffix == ".csv":
            frame = pd.read_csv(path, skipinitialspace=True)
        else:
            frame = pd.read_excel(path, engine="calamine")
    except Exception as exc:  # pandas and calamine raise several types for unreadable files
        kind = "CSV" if suffix == ".csv" else "Excel"
        raise DataError(f"{path}: not a readable {kind} file ({exc.__class__.__name__})") from None
    if not header or len(header) != frame.shape[1]:
        raise DataError(f"{path}: no header row of column names")
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen:
            raise DataError(f"{path}: column {name!r} appears twice (columns {seen[name] + 1} and {i + 1})")
        seen[name] = i
    frame.columns = header
    return frame


def _renamed(frame: pd.DataFrame, spec: dict, path: str) -> pd.DataFrame:
    """The file's columns under their config names (dataset.renames), the target among them."""
    renames = spec.get("renames") or {}
    for old in renames:
        if old not in frame.columns:
            raise DataError(f"{path}: dataset.renames names column {old!r}, which the file does not have")
    frame = frame.rename(columns=renames)
    names = list(frame.columns)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{path}: dataset.renames gives two columns the name {repeated[0]!r}")
    target = spec["target"]
    if target not in names:
        raise DataError(f"{path}: no column {target!r} (dataset.target); the columns are {', '.join(names)}")
    if len(names) < 2:
        raise DataError(f"{path}: no input column beside the target {target!r}")
    if len(frame) == 0:
        raise DataError(f"{path}: no data rows")
    for where in ("bounds", "units"):
        unknown = [c for c in spec.get(where) or {} if c not in names]
        if unknown:
            raise DataError(f"{path}: dataset.{where} names column {unknown[0]!r}, which the table lacks")
    return frame


def _check_derived(derived: dict[str, str], table: pd.DataFrame, features: list[str], path: str) -> None:
    """Each derived input a new name, in the language, over the inputs, defined on every row."""
    for name, expression in derived.items():
        where = f"{path}: dataset.derived.{name}"
        if name in table.columns:
            raise DataError(f"{where}: {name!r} is already a column of the table")
        parse(expression, features, where)  # the target, and columns left out, are no inputs
        evaluate(expression, table[features], where)


def read_table(spec: dict) -> tuple[Dataset, pd.DataFrame]:
    """The table that the config's `dataset` section describes, checked; and its facts.

    Returns the Dataset and the clean table: the raw inputs, then the target, float64. Every
    problem is one DataError naming the file, the column and the row."""
    path, target = spec["file"], spec["target"]
    table = numeric(_renamed(read_file(path), spec, path), str(path))
    bounds = {c: {k: float(v) for k, v in b.items()} for c, b in (spec.get("bounds") or {}).items()}
    check_bounds(table, bounds, str(path))
    if table[target].nunique() == 1:
        value = table[target].iloc[0]
        raise DataError(f"{path}: the target {target!r} has one value ({value:g}) on every row")
    left_out = [c for c in table.columns if c != target and table[c].nunique() == 1]
    features = [c for c in table.columns if c != target and c not in left_out]
    if not features:
        raise DataError(f"{path}: every input column has a single value: nothing to learn from")
    derived = dict(spec.get("derived") or {})
    _check_derived(derived, table, features, path)
    figure_input = spec.get("figure_input") or most_correlated(table, features, target)
    if figure_input not in features:
        raise DataError(f"{path}: dataset.figure_input {figure_input!r} is not an input of the table")
    dataset = Dataset(
        name=spec.get("name") or Path(path).stem,
        target=target,
        features=features,
        units=dict(spec.get("units") or {}),
        bounds=bounds,
        derived=derived,
        figure_input=figure_input,
        left_out=left_out,
    )
    return dataset, table[[*features, target]]


def most_correlated(table: pd.DataFrame, features: list[str], target: str) -> str:
    """The input whose absolute Pearson correlation with the target is largest (the first of ties)."""
    corr = [abs(np.corrcoef(table[f], table[target])[0, 1]) for f in features]
    return features[int(np.argmax(corr))]
