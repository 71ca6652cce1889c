"""Derived inputs: computed from the raw columns by one function, undefined ones named by row."""

import numpy as np
import pandas as pd
import pytest

from concrete_study.errors import DataError
from concrete_study.inputs import FEATURES, INPUT_SETS, derive
from concrete_study.runs import Run

MIX = pd.DataFrame(
    [
        [300.0, 100.0, 50.0, 180.0, 5.0, 1000.0, 800.0, 28.0],
        [400.0, 0.0, 0.0, 160.0, 0.0, 1000.0, 800.0, 1.0],
    ],
    columns=FEATURES,
)


def test_derived_inputs_are_the_field_s_ratios():
    out = derive(MIX, INPUT_SETS["derived"])
    assert list(out.columns) == [*FEATURES, "log_age", "water_cement", "water_binder"]
    np.testing.assert_allclose(out["water_cement"], [180 / 300, 160 / 400])
    np.testing.assert_allclose(out["water_binder"], [180 / 450, 160 / 400])
    np.testing.assert_allclose(out["log_age"], [np.log(28), 0.0])
    pd.testing.assert_frame_equal(derive(MIX, FEATURES), MIX)  # the raw set: the columns as they are


def test_an_undefined_input_names_its_row_and_why():
    no_cement = MIX.assign(cement=[300.0, 0.0])
    with pytest.raises(
        DataError, match=r"^mixtures: row 2: input 'water_cement' is undefined \(cement is 0\)$"
    ):
        derive(no_cement, INPUT_SETS["derived"])
    no_binder = no_cement.assign(slag=0.0, fly_ash=0.0)
    with pytest.raises(DataError, match="row 2: input 'water_binder' is undefined"):
        derive(no_binder, [*FEATURES, "water_binder"])
    with pytest.raises(DataError, match="unknown input 'colour'"):
        derive(MIX, ["colour"])


def test_inputs_are_part_of_a_run():
    run = Run(inputs="derived", standardize_target=True)
    assert run.id == "h128-64_adam_lr0.01_bs64_ystd_derived_e300" and run.columns == INPUT_SETS["derived"]
    assert run.params()["inputs"] == "derived" and "inputs" not in Run().params()  # raw: ids as before
    assert Run(**run.params()) == run


def test_an_embedding_is_part_of_a_run_and_none_keeps_the_ids():
    run = Run(inputs="derived", standardize_target=True, embedding="periodic")
    assert run.id == "h128-64_adam_lr0.01_bs64_ystd_derived_periodic_e300"
    assert run.params()["embedding"] == "periodic" and "embedding" not in Run().params()
    assert Run(**run.params()) == run
