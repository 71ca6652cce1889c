"""What a network reads: the eight raw inputs, or those and the quantities the field knows.

Concrete strength follows the water/cement ratio (Abrams' law) and the logarithm of age, which a
network otherwise has to learn from kg/m³ and days. Which inputs a run reads is part of the run
(`Run.inputs`, a name in INPUT_SETS); a model's scaler names the columns it reads, and `derive`
computes them from raw mixtures wherever the model is used: training, the benchmark, `predict`.
"""

from __future__ import annotations

import numpy as np

from concrete_study.errors import DataError

# The raw inputs, as the dataset gives them: amounts in kg/m³, age in days.
FEATURES = [
    "cement",
    "slag",
    "fly_ash",
    "water",
    "superplasticizer",
    "coarse_aggregate",
    "fine_aggregate",
    "age",
]


def _binder(t):
    return t["cement"] + t["slag"] + t["fly_ash"]


# A derived input: how it is computed from the raw ones, where it is defined, and why not.
DERIVED = {
    "log_age": (lambda t: np.log(t["age"]), lambda t: t["age"] > 0, "age is 0"),
    "water_cement": (lambda t: t["water"] / t["cement"], lambda t: t["cement"] > 0, "cement is 0"),
    "water_binder": (
        lambda t: t["water"] / _binder(t),
        lambda t: _binder(t) > 0,
        "cement, slag and fly ash are all 0",
    ),
}
INPUT_SETS = {
    "raw": FEATURES,  # the original study's
    "derived": [*FEATURES, "log_age", "water_cement", "water_binder"],
}


def derive(table, columns: list[str], source: str = "mixtures"):
    """The columns a model reads, from the raw inputs of `table` (a DataFrame); a derived input
    that is undefined for a row is one DataError naming the row and the input."""
    derived = {}
    for name in columns:
        if name in FEATURES:
            continue
        if name not in DERIVED:
            raise DataError(f"{source}: unknown input {name!r}: expected one of {FEATURES + list(DERIVED)}")
        compute, defined, why = DERIVED[name]
        ok = np.asarray(defined(table))
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            raise DataError(f"{source}: row {row + 1}: input {name!r} is undefined ({why})")
        derived[name] = compute(table)
    return table.assign(**derived)[columns] if derived else table[columns]
