"""Task 6: the chosen configuration retrained on train+val with every seed and tested once; with
a peer, the network blended with the benchmark's LightGBM peer, the weight chosen on the val rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from concrete_study.data import FEATURES, TARGET, baselines, fit_and_scale
from concrete_study.engine import TrainResult, train
from concrete_study.evaluation import (
    Interval,
    blend_weight,
    bootstrap_mse_interval,
    calibration_rows,
    conformal_interval,
    interval_coverage,
    permutation_importance,
    regression_metrics,
    seed_spread,
)
from concrete_study.model_file import Ensemble, Served, model_bundle
from concrete_study.peer import raw_rows, retrain, tune
from concrete_study.records import seed_key
from concrete_study.runs import Run


@dataclass
class FinalModel:
    """What the final model step writes."""

    result: TrainResult
    bundle: dict  # the model file's content
    metrics: dict
    test_predictions: pd.DataFrame
    fit_predictions: pd.DataFrame
    importance: pd.DataFrame


def final_model(
    run: Run,
    seeds: list[int],
    table: pd.DataFrame,
    split: dict[str, np.ndarray],
    device: str,
    n_boot: int,
    repeats: int,
    level: float,
    width: str = "fixed",
    peer: dict | None = None,
) -> FinalModel:
    """Refit the scaler on train+val and train every seed there, then look at the test rows once.

    What is calibrated, and with a peer how much weight the network gets, is decided on the val
    rows by the same models trained on the train rows alone: the split-conformal way.
    """
    fit_rows = np.concatenate([split["train"], split["val"]])
    fit, test = table.iloc[fit_rows], table.iloc[split["test"]]
    scaler, a = fit_and_scale(table, {"fit": fit_rows, "test": split["test"]}, fit="fit", columns=run.columns)
    # No held-out rows remain: the per-epoch "val" curve is the fit set itself, for monitoring.
    result = train(
        run, seeds, a["X_fit"], a["y_fit"], a["X_fit"], a["y_fit"], device=device, snapshot_epochs=run.members
    )
    names = [seed_key(s) for s in seeds]
    ensemble = Ensemble(run.hidden, scaler, dict(zip(names, result.member_weights(run.members), strict=True)))
    served, interval, n_calibration = calibrate(
        run, seeds, table, split, device, level, width, ensemble, peer
    )

    y_test, y_fit = test[TARGET].to_numpy(np.float64), fit[TARGET].to_numpy(np.float64)
    parts = served.parts(test)  # the one look at the test set
    per_seed = served.combine(parts)
    mean = per_seed.mean(axis=0)
    fit_pred = served.predict(fit).mean(axis=0)

    # The baselines read the raw inputs, whatever the network reads.
    _, raw = fit_and_scale(table, {"train": fit_rows, "test": split["test"]}, fit="train")
    base = baselines(raw)
    ens = regression_metrics(y_test, mean)
    seed_metrics = {n: regression_metrics(y_test, per_seed[r]) for r, n in enumerate(names)}
    seed_mse = [m["mse"] for m in seed_metrics.values()]
    lo, hi = bootstrap_mse_interval(y_test, mean, n_boot)
    half = interval.half_width(seed_spread(*parts)) * np.ones(len(y_test))
    interval_record = interval.to_dict() | {
        "calibration_rows": n_calibration,
        "test_coverage": interval_coverage(y_test, *conformal_interval(mean, half)),
        "test_half_width_mean": float(half.mean()),
        "test_half_width_range": [float(half.min()), float(half.max())],
    }
    metrics = {
        "test_mse": ens["mse"],
        "test_rmse": ens["rmse"],
        "test_mae": ens["mae"],
        "test_r2": ens["r2"],
        "test_mse_ci95": [lo, hi],
        "test_mse_mean_single_seed": float(np.mean(seed_mse)),
        "test_mse_std_single_seed": float(np.std(seed_mse, ddof=1)) if len(seeds) > 1 else 0.0,
        "train_mse": float(np.mean((fit_pred - y_fit) ** 2)),
        "baseline_mean_test_mse": base["mean_mse_test"],
        "baseline_linear_test_mse": base["linear_mse_test"],
        "test_rows": int(len(y_test)),
        "fit_rows": int(len(y_fit)),
        "per_seed": seed_metrics,
        "run": run.params(),
        "seeds": seeds,
        "bootstrap_resamples": n_boot,
        "interval": interval_record,
    }
    if served.boosters:
        # The blend's parts on the same test rows, each alone.
        for name, part in zip(("network", "peer"), parts, strict=True):
            metrics[name] = regression_metrics(y_test, part.mean(axis=0))
        metrics["blend"] = served.description()
    input_range = {f: [float(fit[f].min()), float(fit[f].max())] for f in FEATURES}
    x_test = test[FEATURES].to_numpy(np.float64)
    return FinalModel(
        result=result,
        bundle=model_bundle(run.params(), seeds, served, metrics, interval_record, input_range),
        metrics=metrics,
        test_predictions=test.assign(predicted=mean, **{n: per_seed[r] for r, n in enumerate(names)}),
        fit_predictions=fit.assign(predicted=fit_pred),
        # The raw inputs, each shuffled in turn: derived ones follow the raw ones they come from.
        importance=permutation_importance(
            lambda x: served.predict(pd.DataFrame(x, columns=FEATURES)).mean(axis=0),
            x_test,
            y_test,
            FEATURES,
            repeats,
        ),
    )


def calibrate(
    run: Run,
    seeds: list[int],
    table: pd.DataFrame,
    split: dict,
    device: str,
    level: float,
    width: str,
    ensemble: Ensemble,
    peer: dict | None,
) -> tuple[Served, Interval, int]:
    """What the final model serves and its split-conformal interval, from models trained on the
    train rows alone and scored on the val rows: the network's ensemble there and, with a peer,
    the peer tuned there; the blend's weight on the network is the one of the peer's
    `blend_weights` whose blend predicts the val rows best, and each seed of the peer retrains on
    train+val for the rounds it stopped at.
    Returns the served model, the interval and the number of rows it was calibrated on."""
    _, a = fit_and_scale(
        table, {"train": split["train"], "val": split["val"]}, fit="train", columns=run.columns
    )
    x, y, x_val = a["X_train"], a["y_train"], a["X_val"]
    result = train(run, seeds, x, y, x_val, a["y_val"], device=device, snapshot_epochs=run.members)
    y_val = a["y_val"].astype(np.float64)
    parts, weight, served = [result.member_predictions(run.members).astype(np.float64)], 1.0, Served(ensemble)
    if peer:
        choice = tune(peer, seeds, *raw_rows(table, split["train"]), *raw_rows(table, split["val"]))
        parts.append(np.asarray(choice["inner_val_predictions"]))
        weight, _ = blend_weight(*(p.mean(axis=0) for p in parts), y_val, peer["blend_weights"])
        boosters = retrain(
            peer, choice, seeds, *raw_rows(table, np.concatenate([split["train"], split["val"]]))
        )
        served = Served(ensemble, [b.model_to_string() for b in boosters], weight, choice["params"])
    return served, Interval.calibrate(*calibration_rows(y_val, parts, weight), level, width), len(y_val)
