"""The data library: the concrete table as its config describes it, summary, split, scaler, baselines."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import CONCRETE_INPUTS

from concrete_study.data import (
    DataError,
    Standardiser,
    baselines,
    check_split_sizes,
    scaled_arrays,
    split_indices,
    summarize_data,
    summary_markdown,
)


def test_the_config_describes_the_original_file(table, dataset):
    assert dataset.features == CONCRETE_INPUTS and dataset.target == "strength"
    assert list(table.columns) == [*CONCRETE_INPUTS, "strength"]
    assert table.shape == (1030, 9)
    assert table["strength"].mean() == pytest.approx(35.8178, abs=1e-4)
    assert table["strength"].std() == pytest.approx(16.7057, abs=1e-4)
    assert table.loc[0, "cement"] == 540.0 and table.loc[0, "age"] == 28.0
    assert dataset.figure_input == "cement"  # the input most correlated with strength
    assert dataset.lower_bound() == 0.0 and dataset.label("strength") == "strength (MPa)"


def test_summary_counts_duplicates_and_ranges(table, dataset):
    s = summarize_data(table, dataset)
    assert s["rows"] == 1030 and s["columns"] == 9
    assert s["duplicate_rows"] == 25
    assert s["column_stats"]["age"]["min"] == 1.0 and s["column_stats"]["age"]["max"] == 365.0
    assert s["column_stats"]["age"]["unit"] == "days"
    assert s["target_stats"]["variance"] == pytest.approx(16.7057**2, rel=1e-4)
    assert "Target `strength` (MPa): mean 35.8178" in summary_markdown(s)
    json.dumps(s)


def test_too_few_rows_for_the_split_is_one_line():
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    check_split_sizes(100, fractions, "t.csv")
    with pytest.raises(DataError, match=r"^t.csv: too few rows for the split: 60 rows give val 9 rows; each"):
        check_split_sizes(60, fractions, "t.csv")


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


def test_scaler_is_fitted_on_train_only(table, dataset, tmp_path):
    split = split_indices(len(table), {"train": 0.7, "val": 0.15, "test": 0.15}, 42)
    scaler = Standardiser.fit(table.iloc[split["train"]][CONCRETE_INPUTS])
    arrays = scaled_arrays(table, split, scaler, dataset)
    np.testing.assert_allclose(arrays["X_train"].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(arrays["X_train"].std(0), 1, atol=1e-5)
    assert np.abs(arrays["X_val"].mean(0)).max() > 1e-3  # val is transformed, not refitted
    scaler.save(tmp_path / "scaler.json")
    again = Standardiser.load(tmp_path / "scaler.json")
    assert again == scaler
    np.testing.assert_array_equal(
        again.transform(table[CONCRETE_INPUTS]), scaler.transform(table[CONCRETE_INPUTS])
    )
    with pytest.raises(DataError, match="constant"):
        Standardiser.fit(pd.DataFrame({"a": [1.0, 1.0]}))


def test_baselines_mean_and_least_squares(table, dataset):
    split = split_indices(len(table), {"train": 0.7, "val": 0.15, "test": 0.15}, 42)
    arrays = scaled_arrays(
        table, split, Standardiser.fit(table.iloc[split["train"]][CONCRETE_INPUTS]), dataset
    )
    b = baselines(arrays)
    y_val = arrays["y_val"].astype(float)
    assert b["mean_mse_val"] == pytest.approx(np.mean((y_val - arrays["y_train"].mean()) ** 2), rel=1e-6)
    assert 250 < b["mean_mse_val"] < 320
    assert b["linear_mse_val"] < 0.5 * b["mean_mse_val"]
