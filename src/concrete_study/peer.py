"""The benchmark's peer: LightGBM, tuned per split on the inner rows by the network's rule.

Per split, a booster of the first seed for each grid point on the inner training rows, its rounds
found by early stopping on the inner validation rows; the point with the lowest inner-validation
MSE is chosen (ties: the first). Every seed then trains at that point the same way (the seed
ensemble's predictions of the inner validation rows calibrate its interval), and each seed is
retrained on all the split's training rows for the rounds it stopped at, to be scored once on the
test rows. One seed per grid point, not five: a booster costs ~0.3 s here, most of it the Python
loop over rounds, and 18 points x 5 seeds x 20 splits would take longer than the whole study.
Trees read the raw inputs: no scaling. The final model's peer is the same routine on the
study's split (protocol.study_split).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from concrete_study.records import seed_key

if TYPE_CHECKING:
    from concrete_study.dataset import Dataset

BAGGING_FRACTION = 0.8  # each round's boosters see this fraction of the rows


def grid_points(peer: dict) -> list[dict]:
    """The product of the grid's value lists, in the config's order."""
    keys = list(peer["grid"])
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*peer["grid"].values())]


def train_peer(peer: dict, point: dict, seed: int, x, y, rounds: int, valid=None):
    import lightgbm as lgb

    params = {
        "objective": "regression",
        "learning_rate": peer["learning_rate"],
        "bagging_fraction": BAGGING_FRACTION,
        "bagging_freq": 1,
        **point,
        "seed": seed,
        # One thread, column-wise histograms, deterministic: the same bytes on every run.
        "num_threads": 1,
        "force_col_wise": True,
        "deterministic": True,
        "verbosity": -1,
    }
    data = lgb.Dataset(x, y)
    # The booster as trained: by default lgb.train writes it to a string and parses it back, a
    # sixth of the peer's time, for the same trees (their values written exactly).
    kept = {"keep_training_booster": True}
    if valid is None:
        return lgb.train(params, data, num_boost_round=rounds, **kept)
    valid_set = lgb.Dataset(*valid, reference=data)
    stop = lgb.early_stopping(peer["early_stopping"], verbose=False)
    return lgb.train(params, data, num_boost_round=rounds, valid_sets=[valid_set], callbacks=[stop], **kept)


def tune(peer: dict, seeds: list[int], x, y, x_val, y_val) -> dict:
    """The grid point whose first seed predicts the inner validation rows best, the rounds each
    seed stops at there, the seed ensemble's inner-validation MSE and every seed's predictions."""

    def fit(point, seed):
        return train_peer(peer, point, seed, x, y, peer["max_rounds"], (x_val, y_val))

    def predict(booster):
        return booster.predict(x_val, num_iteration=booster.best_iteration)

    best = None  # (inner-validation MSE, point, the first seed's booster there)
    for p in grid_points(peer):
        booster = fit(p, seeds[0])
        mse = float(np.mean((predict(booster) - y_val) ** 2))
        if best is None or mse < best[0]:  # ties: the first
            best = (mse, p, booster)
    _, point, first = best
    # The first seed at the chosen point is the booster the search trained there (training is
    # deterministic): kept, not trained again.
    boosters = [first, *(fit(point, s) for s in seeds[1:])]
    per_seed = np.stack([predict(b) for b in boosters])
    pred = per_seed.mean(axis=0)
    return {
        "params": point,
        "rounds": [int(b.best_iteration) for b in boosters],
        "inner_val_mse": float(np.mean((pred - y_val) ** 2)),
        "inner_val_predictions": per_seed.tolist(),  # (seeds, rows): what a blend and an interval use
    }


def retrain(peer: dict, choice: dict, seeds: list[int], x, y) -> list:
    """Each seed at the chosen point, on all the rows, for the rounds it stopped at in `tune`."""
    return [
        train_peer(peer, choice["params"], seed, x, y, rounds)
        for seed, rounds in zip(seeds, choice["rounds"], strict=True)
    ]


def raw_rows(table: pd.DataFrame, dataset: Dataset, rows) -> tuple[np.ndarray, np.ndarray]:
    """The raw inputs and the target of these rows: what the trees read and learn."""
    part = table.iloc[rows]
    return part[dataset.features].to_numpy(np.float64), part[dataset.target].to_numpy(np.float64)


def fit_split(
    peer: dict, seeds: list[int], table: pd.DataFrame, dataset: Dataset, splits: dict, s: int
) -> tuple[dict, list]:
    """Split `s`: the choice on its inner rows (`tune`), and each seed's booster retrained on all
    its training rows."""
    x, y = raw_rows(table, dataset, splits["inner_train"][s])
    x_val, y_val = raw_rows(table, dataset, splits["inner_val"][s])
    choice = {"split": s, **tune(peer, seeds, x, y, x_val, y_val)}
    return choice, retrain(peer, choice, seeds, *raw_rows(table, dataset, splits["train"][s]))


def peer_split(peer: dict, seeds: list[int], table: pd.DataFrame, dataset: Dataset, splits: dict, s: int):
    """Split `s` of the benchmark: the choice, and the retrained seeds' test predictions."""
    choice, boosters = fit_split(peer, seeds, table, dataset, splits, s)
    x_test, y_test = raw_rows(table, dataset, splits["test"][s])
    per_seed = np.stack([b.predict(x_test) for b in boosters])
    frame = pd.DataFrame({"split": s, "row": splits["test"][s], dataset.target: y_test})
    frame = frame.assign(
        predicted=per_seed.mean(axis=0), **{seed_key(k): per_seed[i] for i, k in enumerate(seeds)}
    )
    return choice, frame
