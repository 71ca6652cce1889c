"""Derived inputs: expressions over a table's columns, in a language that cannot run code."""

import numpy as np
import pandas as pd
import pytest
from conftest import CONCRETE_INPUTS, concrete

from concrete_study.errors import DataError
from concrete_study.inputs import derive, evaluate
from concrete_study.runs import Run

MIX = pd.DataFrame(
    [
        [300.0, 100.0, 50.0, 180.0, 5.0, 1000.0, 800.0, 28.0],
        [400.0, 0.0, 0.0, 160.0, 0.0, 1000.0, 800.0, 1.0],
    ],
    columns=CONCRETE_INPUTS,
)


def test_the_concrete_config_derives_the_field_s_ratios():
    dataset, _ = concrete()
    out = derive(MIX, dataset.columns("derived"), dataset.derived)
    assert list(out.columns) == [*CONCRETE_INPUTS, "log_age", "water_cement", "water_binder"]
    np.testing.assert_allclose(out["water_cement"], [180 / 300, 160 / 400])
    np.testing.assert_allclose(out["water_binder"], [180 / 450, 160 / 400])
    np.testing.assert_allclose(out["log_age"], [np.log(28), 0.0])
    pd.testing.assert_frame_equal(derive(MIX, dataset.columns("raw"), dataset.derived), MIX)


def test_an_undefined_input_names_its_row():
    derived = {"water_cement": "water / cement", "water_binder": "water / (cement + slag + fly_ash)"}
    no_cement = MIX.assign(cement=[300.0, 0.0])
    with pytest.raises(
        DataError,
        match=r"^rows: derived input 'water_cement': row 2: 'water / cement' is undefined there \(inf\)$",
    ):
        derive(no_cement, [*CONCRETE_INPUTS, "water_cement"], derived)
    no_binder = no_cement.assign(slag=0.0, fly_ash=0.0)
    with pytest.raises(DataError, match="'water_binder': row 2: .* is undefined there"):
        derive(no_binder, [*CONCRETE_INPUTS, "water_binder"], derived)
    with pytest.raises(DataError, match="missing input 'colour'"):
        derive(MIX, ["colour"], derived)


@pytest.mark.parametrize(
    "expression, message",
    [
        ("cement.__class__", "uses Attribute, which the language does not have"),
        ("__import__('os')", "only log, log10, log1p, exp, sqrt, abs of one argument may be called"),
        ("open(cement)", "only log, log10, log1p, exp, sqrt, abs of one argument may be called"),
        ("log(cement, 2)", "of one argument may be called"),
        ("[cement][0]", "uses Subscript"),
        ("(lambda: 1)()", "may be called"),
        ("cement if age else 1", "uses IfExp"),
        ("colour / 2", "names 'colour', which is not a column of the table"),
        ("log", "names 'log', which is not a column"),
        ("'a' * 3", "'a' is not a number"),
        ("True + age", "True is not a number"),
        ("cement +", "is not a valid expression"),
    ],
)
def test_the_language_refuses_anything_but_arithmetic(expression, message):
    with pytest.raises(DataError, match=message):
        evaluate(expression, MIX, "dataset.derived.x")


def test_the_language_computes_what_it_allows():
    out = evaluate("-sqrt(abs(water - 200)) + 2 ** 3 * log1p(age) / exp(0) - log10(100)", MIX, "x")
    expected = -np.sqrt(np.abs(MIX["water"] - 200)) + 8 * np.log1p(MIX["age"]) - 2
    np.testing.assert_allclose(out, expected)


def test_inputs_are_part_of_a_run():
    run = Run(inputs="derived", standardize_target=True)
    assert run.id == "h128-64_adam_lr0.01_bs64_ystd_derived_e300"
    assert run.params()["inputs"] == "derived" and "inputs" not in Run().params()  # raw: ids as before
    assert Run(**run.params()) == run


def test_an_embedding_is_part_of_a_run_and_none_keeps_the_ids():
    run = Run(inputs="derived", standardize_target=True, embedding="periodic")
    assert run.id == "h128-64_adam_lr0.01_bs64_ystd_derived_periodic_e300"
    assert run.params()["embedding"] == "periodic" and "embedding" not in Run().params()
    assert Run(**run.params()) == run
