"""The regularization experiment's table columns, its figure's choice of runs and its caption's
answer, on histories written to order."""

import numpy as np
import pandas as pd
import pytest

from concrete_study.regularization import architectures, verdict
from concrete_study.runs import Run
from concrete_study.tables import experiment_table, table_markdown

DEEP, SMALL = (128, 128, 128, 128), (128, 64)


def history(train: list[float], val: list[float]) -> pd.DataFrame:
    """Three epochs per seed; the last epoch's losses are `train` and `val` (one per seed), and
    the best validation loss is the last."""
    rows = []
    for seed, (t, v) in enumerate(zip(train, val, strict=True)):
        for epoch in (1, 2, 3):
            rows.append(
                {
                    "epoch": epoch,
                    "seed": seed,
                    "train_mse": t * (4 - epoch),
                    "val_mse": v * (4 - epoch),
                    "lr": 0.01,
                }
            )
    return pd.DataFrame(rows)


def experiment(best: dict[tuple, list[float]]):
    """Runs of two architectures, each plain and with dropout 0.2 or weight decay 1e-3, whose
    final validation losses per seed are `best[(hidden, dropout, weight_decay)]`; every training
    loss is 10."""
    runs = []
    for (hidden, dropout, decay), val in best.items():
        run = Run(hidden=hidden, epochs=3, dropout=dropout, weight_decay=decay)
        runs.append((run.id, run, history([10.0] * len(val), val)))
    return runs


def test_the_table_adds_the_keys_and_the_gap_it_is_asked_for(dataset):
    runs = experiment({(SMALL, 0.0, 0.0): [30.0, 34.0], (SMALL, 0.2, 0.0): [20.0, 22.0]})
    plain = experiment_table(runs, dataset)
    wide = experiment_table(runs, dataset, ("weight_decay", "dropout", "gap"))
    # Without `columns`, the study's table as it always was; with them, its columns plus these.
    assert "gap_mean" not in plain and "dropout" not in plain
    keys, metrics, counts = plain.columns[:8], plain.columns[8:14], plain.columns[14:]
    extra = ["weight_decay", "dropout"]
    assert list(wide.columns) == [*keys, *extra, *metrics, "gap_mean", "gap_std", *counts]
    first = wide.iloc[0]  # sorted by best validation loss: the dropout run
    assert first["dropout"] == 0.2 and first["gap_mean"] == pytest.approx(11.0)
    assert first["gap_std"] == pytest.approx(np.std([10.0, 12.0], ddof=1))
    md = table_markdown(wide, "Regularization", dataset)
    assert "| weight_decay | dropout |" in md and "| 0 | 0.2 | 10.000 ± 0.000 |" in md
    assert "| 11.000 ± 1.414 |" in md and "The gap is the final validation loss" in md
    assert "gap" not in table_markdown(plain, "Regularization", dataset)


def test_the_figure_shows_each_architecture_plain_and_at_its_best_regularization(dataset):
    runs = experiment(
        {
            (DEEP, 0.0, 0.0): [40.0, 44.0],
            (DEEP, 0.2, 0.0): [26.0, 28.0],
            (DEEP, 0.0, 1.0e-3): [35.0, 35.0],
            (SMALL, 0.0, 0.0): [30.0, 32.0],
            (SMALL, 0.2, 0.0): [29.0, 29.0],
        }
    )
    table = experiment_table(runs, dataset, ("weight_decay", "dropout", "gap"))
    found = architectures(table, {rid: run for rid, run, _ in runs})
    assert [a.name for a in found] == ["[128-128-128-128]", "[128-64]"]  # the largest first
    assert found[0].plain["run"] == "h128-128-128-128_adam_lr0.01_bs64_e3"
    assert found[0].best["run"] == "h128-128-128-128_adam_lr0.01_bs64_drop0.2_e3"
    assert found[1].best["run"] == "h128-64_adam_lr0.01_bs64_drop0.2_e3"
    text = verdict(found, dataset)
    # The deep net: 42 plain, 27 at dropout 0.2 (15 better, 35.7% of 42, beyond the larger std
    # 2.83). Plain, [128-64] wins (31 against 42); regularized, the deep net does (27 against
    # 29): by 2 MPa², 6.9% of 29, beyond the seeds' larger standard deviation (1.41).
    assert (
        "at its best regularization (dropout 0.2, weight decay 0): better by 15.00 MPa² (35.7%), beyond"
        in text
    )
    assert "The best of the others is [128-64] at 31.00 ± 1.41 MPa² without regularization" in text
    assert (
        "Regularization lets the largest architecture win, by 2.00 MPa² (6.9%), beyond the seeds' spread."
        in text
    )
    assert "gap moves from 32.00 to 17.00 MPa²" in text


def test_the_answer_says_when_the_largest_architecture_stays_behind(dataset):
    runs = experiment(
        {
            (DEEP, 0.0, 0.0): [40.0, 44.0],
            (DEEP, 0.0, 1.0e-3): [29.5, 30.5],
            (SMALL, 0.0, 0.0): [30.0, 32.0],
            (SMALL, 0.2, 0.0): [29.0, 29.0],
        }
    )
    table = experiment_table(runs, dataset, ("weight_decay", "dropout", "gap"))
    text = verdict(architectures(table, {rid: run for rid, run, _ in runs}), dataset)
    assert text.endswith("win: it ends behind, by 1.00 MPa² (3.3%), beyond the seeds' spread.")
    assert "Regularization does not let the largest architecture win" in text
    # Ahead already without regularization, and by less than the seeds' spread with it.
    ahead = experiment(
        {
            (DEEP, 0.0, 0.0): [28.0, 30.0],
            (DEEP, 0.2, 0.0): [27.0, 29.0],
            (SMALL, 0.0, 0.0): [30.0, 32.0],
            (SMALL, 0.2, 0.0): [29.0, 29.0],
        }
    )
    table = experiment_table(ahead, dataset, ("weight_decay", "dropout", "gap"))
    text = verdict(architectures(table, {rid: run for rid, run, _ in ahead}), dataset)
    assert (
        "The largest architecture wins with and without regularization: without, by 2.00 MPa² (6.5%), beyond"
        in text
    )
    assert text.endswith("with each at its best, by 1.00 MPa² (3.4%), within the seeds' spread.")
    # One seed: no spread to weigh a difference against.
    single = experiment(
        {
            (DEEP, 0.0, 0.0): [40.0],
            (DEEP, 0.2, 0.0): [26.0],
            (SMALL, 0.0, 0.0): [30.0],
            (SMALL, 0.2, 0.0): [29.0],
        }
    )
    table = experiment_table(single, dataset, ("weight_decay", "dropout", "gap"))
    text = verdict(architectures(table, {rid: run for rid, run, _ in single}), dataset)
    assert text.endswith("lets the largest architecture win, by 3.00 MPa² (10.3%).") and "40.00 MPa²" in text
    one = experiment({(DEEP, 0.0, 0.0): [40.0, 44.0], (DEEP, 0.2, 0.0): [26.0, 28.0]})
    table = experiment_table(one, dataset, ("weight_decay", "dropout", "gap"))
    text = verdict(architectures(table, {rid: run for rid, run, _ in one}), dataset)
    assert text.endswith("gap moves from 32.00 to 17.00 MPa².") and "win" not in text
