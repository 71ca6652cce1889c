"""The data library: ingest of good and bad files, summary, split, scaler, baselines."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import RAW

from concrete_study.data import (
    COLUMNS,
    FEATURES,
    DataError,
    Standardiser,
    baselines,
    read_raw,
    scaled_arrays,
    split_indices,
    summarize_data,
    validate_table,
)


@pytest.fixture(scope="module")
def table():
    return read_raw(RAW)


def test_ingest_reads_the_original_file(table):
    assert list(table.columns) == COLUMNS
    assert table.shape == (1030, 9)
    assert table["strength"].mean() == pytest.approx(35.8178, abs=1e-4)
    assert table["strength"].std() == pytest.approx(16.7057, abs=1e-4)
    assert table.loc[0, "cement"] == 540.0 and table.loc[0, "age"] == 28.0


def test_summary_counts_duplicates_and_ranges(table):
    s = summarize_data(table)
    assert s["rows"] == 1030 and s["columns"] == 9
    assert s["duplicate_rows"] == 25
    assert s["column_stats"]["age"]["min"] == 1.0 and s["column_stats"]["age"]["max"] == 365.0
    assert s["target_stats"]["variance"] == pytest.approx(16.7057**2, rel=1e-4)
    json.dumps(s)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a readable Excel file"),
        (b"cement,slag\n1,2\n", "not a readable Excel file"),
        (None, "not a readable Excel file"),  # truncated original
    ],
)
def test_ingest_rejects_files_that_are_not_the_dataset(tmp_path, content, message):
    bad = tmp_path / "Concrete_Data.xls"
    bad.write_bytes(RAW.read_bytes()[:5000] if content is None else content)
    with pytest.raises(DataError, match=message) as err:
        read_raw(bad)
    assert str(bad) in str(err.value)


def test_ingest_names_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_raw(tmp_path / "nope.xls")


def _edit(table, col, row, value):
    t = table.copy().astype(object)
    t.loc[row, col] = value
    return t


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t: t.drop(columns=["water"]), "missing column 'water'"),
        (lambda t: t.rename(columns={"water": "h2o"}), "missing column 'water'"),
        (lambda t: _edit(t, "slag", 3, "abc"), "column 'slag' row 4: non-numeric value 'abc'"),
        (lambda t: _edit(t, "age", 7, None), "column 'age' row 8: missing value"),
        (lambda t: _edit(t, "cement", 0, -5.0), "column 'cement' row 1: negative amount"),
        (lambda t: _edit(t, "age", 2, 0.0), "column 'age' row 3: age must be > 0"),
        (lambda t: t.iloc[:0], "no data rows"),
    ],
)
def test_validation_names_the_problem(table, make, message):
    with pytest.raises(DataError, match=message) as err:
        validate_table(make(table), source="mixtures.csv")
    assert str(err.value).startswith("mixtures.csv: ")
    assert "\n" not in str(err.value)


def test_split_is_disjoint_complete_and_seeded():
    fractions = {"train": 0.70, "val": 0.15, "test": 0.15}
    a = split_indices(1030, fractions, seed=42)
    b = split_indices(1030, fractions, seed=42)
    c = split_indices(1030, fractions, seed=7)
    assert [len(a[p]) for p in ("train", "val", "test")] == [721, 154, 155]
    union = np.concatenate(list(a.values()))
    assert len(union) == len(set(union)) == 1030
    assert all(np.array_equal(a[p], b[p]) for p in a)
    assert not np.array_equal(a["train"], c["train"])
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(10, {"train": 0.7, "val": 0.2, "test": 0.2}, 0)


def test_scaler_is_fitted_on_train_only(table, tmp_path):
    split = split_indices(len(table), {"train": 0.7, "val": 0.15, "test": 0.15}, 42)
    scaler = Standardiser.fit(table.iloc[split["train"]][FEATURES])
    arrays = scaled_arrays(table, split, scaler)
    np.testing.assert_allclose(arrays["X_train"].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(arrays["X_train"].std(0), 1, atol=1e-5)
    assert np.abs(arrays["X_val"].mean(0)).max() > 1e-3  # val is transformed, not refitted
    scaler.save(tmp_path / "scaler.json")
    again = Standardiser.load(tmp_path / "scaler.json")
    assert again == scaler
    np.testing.assert_array_equal(again.transform(table[FEATURES]), scaler.transform(table[FEATURES]))
    with pytest.raises(DataError, match="constant"):
        Standardiser.fit(pd.DataFrame({"a": [1.0, 1.0]}))


def test_baselines_mean_and_least_squares(table):
    split = split_indices(len(table), {"train": 0.7, "val": 0.15, "test": 0.15}, 42)
    arrays = scaled_arrays(table, split, Standardiser.fit(table.iloc[split["train"]][FEATURES]))
    b = baselines(arrays)
    y_val = arrays["y_val"].astype(float)
    assert b["mean_mse_val"] == pytest.approx(np.mean((y_val - arrays["y_train"].mean()) ** 2), rel=1e-6)
    assert 250 < b["mean_mse_val"] < 320
    assert b["linear_mse_val"] < 0.5 * b["mean_mse_val"]
