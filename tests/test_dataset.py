"""A table described by the config's `dataset` section: read, checked, one line per problem."""

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SMOKE, copy_repo, snakemake

from concrete_study.dataset import Dataset, read_table
from concrete_study.errors import DataError

# A table as a user brings it: negative inputs, an integer code, a header with spaces and units.
GOOD = "x pos (m),angle,code,y\n-1.5,10,1,3.0\n0.5,-20,2,4.5\n2.0,30,3,1.0\n1.0,40,1,2.0\n"


def table(tmp_path, text=GOOD, **spec):
    path = tmp_path / "t.csv"
    path.write_text(text)
    return read_table({"file": str(path), "target": "y", **spec})


def test_any_numeric_table_reads_with_two_keys(tmp_path):
    dataset, clean = table(tmp_path)
    assert dataset == Dataset(
        name="t", target="y", features=["x pos (m)", "angle", "code"], figure_input="angle"
    )
    assert list(clean.columns) == ["x pos (m)", "angle", "code", "y"] and (clean.dtypes == "float64").all()
    assert dataset.lower_bound() is None and dataset.label("y") == "y"  # no bounds: negatives are fine
    assert Dataset.from_params(dataset.params()) == dataset


def test_renames_units_bounds_and_derived_inputs(tmp_path):
    dataset, clean = table(
        tmp_path,
        renames={"x pos (m)": "x"},
        units={"x": "m", "y": "kPa"},
        bounds={"y": {"above": 0}},
        derived={"x2": "x ** 2 + abs(angle)"},
        figure_input="x",
    )
    assert dataset.features == ["x", "angle", "code"] and dataset.columns("derived") == [
        "x",
        "angle",
        "code",
        "x2",
    ]
    assert dataset.label("x") == "x (m)" and dataset.lower_bound() == 0.0


def test_a_column_of_one_value_is_left_out(tmp_path):
    text = "a,flat,y\n1,7,2\n2,7,3\n3,7,5\n"
    dataset, clean = table(tmp_path, text)
    assert dataset.features == ["a"] and dataset.left_out == ["flat"] and list(clean.columns) == ["a", "y"]


@pytest.mark.parametrize(
    "text, spec, message",
    [
        (GOOD, {"target": "z"}, "no column 'z' (dataset.target); the columns are x pos (m), angle, code, y"),
        ("a,y,y\n1,2,3\n2,3,4\n", {}, "column 'y' appears twice (columns 2 and 3)"),
        ("a,b,y\n1,2,3\n2,3,4\n", {"renames": {"b": "a"}}, "dataset.renames gives two columns the name 'a'"),
        ("a,y\n1,2\nseven,3\n", {}, "column 'a' row 2: non-numeric value 'seven'"),
        ("a,y\n1,2\n2,3\n,4\n", {}, "column 'a' row 3: missing value"),
        ("a,y\n1,2\n2,2\n", {}, "the target 'y' has one value (2) on every row"),
        (
            "a,y\n1,2\n-2,3\n",
            {"bounds": {"a": {"min": 0}}},
            "column 'a' row 2: -2 is not >= 0 (dataset.bounds.a.min)",
        ),
        (GOOD, {"derived": {"r": "angle / colour"}}, "names 'colour', which is not a column of the table"),
        (GOOD, {"derived": {"r": "angle.real"}}, "uses Attribute, which the language does not have"),
        (
            GOOD,
            {"derived": {"r": "log(angle)"}},
            "dataset.derived.r: row 2: 'log(angle)' is undefined there (nan)",
        ),
        (GOOD, {"derived": {"r": "y * 2"}}, "names 'y', which is not a column"),  # the target is no input
        (
            GOOD,
            {"renames": {"speed": "v"}},
            "dataset.renames names column 'speed', which the file does not have",
        ),
        (GOOD, {"figure_input": "y"}, "dataset.figure_input 'y' is not an input of the table"),
        ("y\n1\n2\n", {}, "no input column beside the target 'y'"),
    ],
)
def test_a_bad_table_is_one_line_naming_file_column_and_row(tmp_path, text, spec, message):
    with pytest.raises(DataError) as err:
        table(tmp_path, text, **spec)
    assert str(err.value).startswith(f"{tmp_path / 't.csv'}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_files_that_are_not_tables(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table({"file": str(tmp_path / "none.csv"), "target": "y"})
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(DataError, match="expected a .csv, .xls or .xlsx file"):
        read_table({"file": str(tmp_path / "t.json"), "target": "y"})
    (tmp_path / "t.xls").write_bytes(b"not excel")
    with pytest.raises(DataError, match="not a readable Excel file"):
        read_table({"file": str(tmp_path / "t.xls"), "target": "y"})


def test_new_rows_are_checked_against_the_table(tmp_path):
    dataset, _ = table(tmp_path, bounds={"angle": {"max": 90}}, derived={"r": "1 / code"})
    rows = pd.DataFrame({"x pos (m)": [1.0], "angle": [5.0], "code": [2.0], "y": [1.0]})
    assert list(dataset.check_rows(rows, "new.csv").columns) == ["x pos (m)", "angle", "code"]
    with pytest.raises(DataError, match="new.csv: column 'angle' row 1: 95 is not <= 90"):
        dataset.check_rows(rows.assign(angle=95.0), "new.csv")
    with pytest.raises(DataError, match="new.csv: derived input 'r': row 1: '1 / code' is undefined"):
        dataset.check_rows(rows.assign(code=0.0), "new.csv")
    with pytest.raises(DataError, match="new.csv: unexpected column 'z'"):
        dataset.check_rows(rows.assign(z=1.0), "new.csv")


@pytest.mark.slow
@pytest.mark.parametrize(
    "csv, extra, message",
    [
        (
            "a,y\n" + "".join(f"{i},{i % 7}\n" for i in range(60)),
            {},
            "too few rows for the split: 60 rows give val 9",
        ),
        (
            "a,y\n" + "".join(f"{i},{i % 7}\n" for i in range(200)),
            {"splits": "data/uci_splits"},
            "is out of range 0..199",
        ),
        ("a,y\n" + "1,x\n" * 200, {}, "column 'y' row 1: non-numeric value 'x'"),
    ],
)
def test_a_bad_table_stops_the_workflow_before_any_job(tmp_path, csv, extra, message):
    """The smoke study with only its dataset section replaced: one line, no job, nothing touched."""
    repo = copy_repo(tmp_path / "repo")
    (repo / "data" / "t.csv").write_text(csv)
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config["dataset"] = {"file": "data/t.csv", "target": "y", **extra}
    (repo / "config" / "smoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(repo, *SMOKE, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if "error" in line]
    assert lines[0].startswith("data error: data/") and message in lines[0], proc.stderr
    assert not (repo / "results").exists()
