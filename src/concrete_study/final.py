"""Task 6: the chosen configuration retrained on train+val with every seed and tested once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from concrete_study.data import FEATURES, TARGET, baselines, fit_and_scale
from concrete_study.engine import TrainResult, train
from concrete_study.evaluation import (
    bootstrap_mse_interval,
    conformal_quantile,
    interval_coverage,
    permutation_importance,
    regression_metrics,
)
from concrete_study.model_file import Ensemble, model_bundle
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
) -> FinalModel:
    """Refit the scaler on train+val and train every seed there, then look at the test rows once.

    The prediction interval is calibrated the split-conformal way: the same configuration trained
    on the train rows alone, its residuals on the val rows (which it did not see).
    """
    fit_rows = np.concatenate([split["train"], split["val"]])
    fit, test = table.iloc[fit_rows], table.iloc[split["test"]]
    scaler, a = fit_and_scale(table, {"fit": fit_rows, "test": split["test"]}, fit="fit", columns=run.columns)
    x_fit, y_fit, x_test = a["X_fit"], a["y_fit"], a["X_test"]
    # No held-out rows remain: the per-epoch "val" curve is the fit set itself, for monitoring.
    result = train(run, seeds, x_fit, y_fit, x_fit, y_fit, device=device)
    names = [seed_key(s) for s in seeds]
    ensemble = Ensemble(run.hidden, scaler, dict(zip(names, result.state_dicts, strict=True)))

    interval = calibrate(run, seeds, table, split, device, level)

    y_test = test[TARGET].to_numpy(dtype=np.float64)
    per_seed = ensemble.predict_scaled(x_test)  # the one look at the test set
    mean = per_seed.mean(axis=0)
    fit_pred = ensemble.predict_scaled(x_fit).mean(axis=0)

    # The baselines read the raw inputs, whatever the network reads.
    _, raw = fit_and_scale(table, {"train": fit_rows, "test": split["test"]}, fit="train")
    base = baselines(raw)
    ens = regression_metrics(y_test, mean)
    seed_metrics = {n: regression_metrics(y_test, per_seed[r]) for r, n in enumerate(names)}
    seed_mse = [m["mse"] for m in seed_metrics.values()]
    lo, hi = bootstrap_mse_interval(y_test, mean, n_boot)
    half = interval["half_width"]
    interval["test_coverage"] = interval_coverage(y_test, mean - half, mean + half)
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
        "interval": interval,
    }
    input_range = {f: [float(fit[f].min()), float(fit[f].max())] for f in FEATURES}
    return FinalModel(
        result=result,
        bundle=model_bundle(run.params(), seeds, ensemble, metrics, interval, input_range),
        metrics=metrics,
        test_predictions=test.assign(predicted=mean, **{n: per_seed[r] for r, n in enumerate(names)}),
        fit_predictions=fit.assign(predicted=fit_pred),
        importance=permutation_importance(
            lambda x: ensemble.predict_scaled(x).mean(axis=0), x_test, y_test, run.columns, repeats
        ),
    )


def calibrate(
    run: Run, seeds: list[int], table: pd.DataFrame, split: dict, device: str, level: float
) -> dict:
    """Split-conformal half-width: the ensemble trained on the train rows, scored on the val rows."""
    _, a = fit_and_scale(
        table, {"train": split["train"], "val": split["val"]}, fit="train", columns=run.columns
    )
    result = train(run, seeds, a["X_train"], a["y_train"], a["X_val"], a["y_val"], device=device)
    residuals = a["y_val"].astype(np.float64) - result.val_predictions.mean(axis=0)
    return {
        "level": level,
        "half_width": conformal_quantile(residuals, level),
        "calibration_rows": len(residuals),
    }
