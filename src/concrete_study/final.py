"""Task 6: the benchmark's protocol (protocol.py) on the study's split. The candidates train on
the train rows and the best on the val rows is chosen; with a peer, the peer is tuned the same
way and the model served is their equal blend; the val rows' residuals calibrate the interval;
the choice retrains on train+val and looks at the test rows once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from concrete_study.data import baselines, fit_and_scale
from concrete_study.dataset import Dataset
from concrete_study.evaluation import (
    Interval,
    bootstrap_mse_interval,
    conformal_interval,
    interval_coverage,
    permutation_importance,
    regression_metrics,
    seed_spread,
)
from concrete_study.model_file import Served, model_bundle
from concrete_study.peer import fit_split
from concrete_study.protocol import inner_predictions, retrain, select, study_split
from concrete_study.records import seed_key
from concrete_study.runs import Run


@dataclass
class FinalModel:
    """What the final model step writes."""

    bundle: dict  # the model file's content
    metrics: dict
    test_predictions: pd.DataFrame
    fit_predictions: pd.DataFrame
    importance: pd.DataFrame


def final_model(
    candidates: dict[str, Run],
    seeds: list[int],
    table: pd.DataFrame,
    dataset: Dataset,
    split: dict[str, np.ndarray],
    device: str,
    peer: dict | None,
    level: float,
    n_boot: int,
    repeats: int,
) -> FinalModel:
    """Choose, calibrate and retrain on the study's split by the protocol, then test once."""
    splits = study_split(split)
    inner = {
        name: inner_predictions(run, seeds, table, dataset, splits, device)
        for name, run in candidates.items()
    }
    choice = select(inner, candidates)[0]
    run = candidates[choice["candidate"]]
    ensemble = retrain(run, seeds, table, dataset, splits, device)[0]
    calibration_parts = [inner[choice["candidate"]]["predictions"][0]]
    served = Served(ensemble, dataset.features)
    if peer:
        peer_choice, boosters = fit_split(peer, seeds, table, dataset, splits, 0)
        calibration_parts.append(np.asarray(peer_choice["inner_val_predictions"]))
        boosters = [b.model_to_string() for b in boosters]
        served = Served(ensemble, dataset.features, boosters, peer_choice["params"])
    y_val = inner[choice["candidate"]]["y_val"][0]
    interval = Interval.calibrate(*served.blend.calibration(y_val, calibration_parts), level)
    chosen = {"candidate": choice["candidate"], "inner_val_mse": choice["inner_val_mse"]}
    return tested(run, seeds, table, dataset, split, served, interval, chosen, n_boot, repeats)


def tested_interval(
    interval: Interval, n_calibration: int, parts: list[np.ndarray], mean, y_test, lower: float | None
) -> dict:
    """The interval's record: its calibration, and on the test rows its coverage and widths."""
    half = interval.half_width(seed_spread(*parts)) * np.ones(len(y_test))
    return interval.to_dict() | {
        "calibration_rows": n_calibration,
        "test_coverage": interval_coverage(y_test, *conformal_interval(mean, half, lower)),
        "test_half_width_mean": float(half.mean()),
        "test_half_width_range": [float(half.min()), float(half.max())],
    }


def tested(
    run: Run,
    seeds: list[int],
    table: pd.DataFrame,
    dataset: Dataset,
    split: dict[str, np.ndarray],
    served: Served,
    interval: Interval,
    chosen: dict,
    n_boot: int,
    repeats: int,
) -> FinalModel:
    """The one look at the test rows: metrics, predictions, importance and the model file."""
    fit_rows = np.concatenate([split["train"], split["val"]])
    fit, test = table.iloc[fit_rows], table.iloc[split["test"]]
    y_test = test[dataset.target].to_numpy(np.float64)
    names = [seed_key(s) for s in seeds]
    parts = served.parts(test)  # the one look at the test rows
    per_seed = served.blend.combine(parts)
    mean = per_seed.mean(axis=0)
    fit_pred = served.predict(fit).mean(axis=0)
    # The baselines read the raw inputs, whatever the network reads.
    base = baselines(fit_and_scale(table, {"train": fit_rows, "test": split["test"]}, "train", dataset)[1])
    seed_metrics = {n: regression_metrics(y_test, per_seed[r]) for r, n in enumerate(names)}
    seed_mse = [m["mse"] for m in seed_metrics.values()]
    interval_record = tested_interval(interval, len(split["val"]), parts, mean, y_test, dataset.lower_bound())
    ens = regression_metrics(y_test, mean)
    metrics = {f"test_{k}": v for k, v in ens.items()} | {
        "test_mse_ci95": list(bootstrap_mse_interval(y_test, mean, n_boot)),
        "test_mse_mean_single_seed": float(np.mean(seed_mse)),
        "test_mse_std_single_seed": float(np.std(seed_mse, ddof=1)) if len(seeds) > 1 else 0.0,
        "train_mse": float(np.mean((fit_pred - fit[dataset.target].to_numpy(np.float64)) ** 2)),
        "baseline_mean_test_mse": base["mean_mse_test"],
        "baseline_linear_test_mse": base["linear_mse_test"],
        "test_rows": len(y_test),
        "fit_rows": len(fit),
        "per_seed": seed_metrics,
        "chosen": chosen,
        "run": run.params(),
        "seeds": seeds,
        "bootstrap_resamples": n_boot,
        "interval": interval_record,
    }
    if served.boosters:  # the blend's parts on the same test rows, each alone
        for name, part in zip(("network", "peer"), parts, strict=True):
            metrics[name] = regression_metrics(y_test, part.mean(axis=0))
        metrics["blend"] = served.description()
    input_range = {f: [float(fit[f].min()), float(fit[f].max())] for f in dataset.features}
    return FinalModel(
        bundle=model_bundle(run.params(), seeds, served, metrics, interval_record, input_range, dataset),
        metrics=metrics,
        test_predictions=test.assign(predicted=mean, **{n: per_seed[r] for r, n in enumerate(names)}),
        fit_predictions=fit.assign(predicted=fit_pred),
        importance=importance(served, test, dataset, repeats),
    )


def importance(served: Served, test: pd.DataFrame, dataset: Dataset, repeats: int) -> pd.DataFrame:
    """Permutation importance of the served model on the test rows: the raw inputs, each shuffled
    in turn (derived inputs follow the raw ones they come from)."""
    features = dataset.features
    return permutation_importance(
        lambda x: served.predict(pd.DataFrame(x, columns=features)).mean(axis=0),
        test[features].to_numpy(np.float64),
        test[dataset.target].to_numpy(np.float64),
        features,
        repeats,
    )
