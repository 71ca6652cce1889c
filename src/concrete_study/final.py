"""Task 6: the final model, retrained on train+val, tested once; its file; predictions."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from concrete_study.data import FEATURES, TARGET, Standardiser, validate_table
from concrete_study.engine import TrainResult, train
from concrete_study.errors import ModelFileError
from concrete_study.model import build_mlp

MODEL_FORMAT = "concrete-study-model/1"


def regression_metrics(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MSE, RMSE, MAE and R² of predictions in MPa."""
    err = pred - true
    mse = float(np.mean(err**2))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - mse / float(np.mean((true - true.mean()) ** 2)),
    }


def bootstrap_mse_interval(
    true: np.ndarray, pred: np.ndarray, n: int, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the MSE over resampled test rows."""
    rng = np.random.default_rng(seed)
    sq = (pred - true) ** 2
    means = sq[rng.integers(0, len(sq), size=(n, len(sq)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


class Ensemble:
    """The seed models of the final configuration, averaged; inputs in raw units."""

    def __init__(self, hidden: list[int], scaler: Standardiser, state_dicts: dict[str, dict]):
        self.hidden = hidden
        self.scaler = scaler
        self.models = {}
        for name, sd in state_dicts.items():
            model = build_mlp(len(FEATURES), hidden)
            model.load_state_dict(sd)
            model.eval()
            self.models[name] = model

    def predict_scaled(self, x: np.ndarray) -> np.ndarray:
        """Predictions of every seed, (seeds, rows), from standardised inputs."""
        with torch.no_grad():
            xt = torch.as_tensor(x, dtype=torch.float32)
            return np.stack([m(xt).squeeze(-1).numpy() for m in self.models.values()])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_scaled(self.scaler.transform(frame[FEATURES]))


def permutation_importance(
    ensemble: Ensemble, x: np.ndarray, y: np.ndarray, repeats: int, seed: int = 0
) -> pd.DataFrame:
    """Increase of the ensemble's MSE when one input column is shuffled, repeated."""
    rng = np.random.default_rng(seed)
    base = float(np.mean((ensemble.predict_scaled(x).mean(0) - y) ** 2))
    rows = []
    for j, name in enumerate(FEATURES):
        increases = []
        for _ in range(repeats):
            shuffled = x.copy()
            shuffled[:, j] = rng.permutation(shuffled[:, j])
            mse = float(np.mean((ensemble.predict_scaled(shuffled).mean(0) - y) ** 2))
            increases.append(mse - base)
        rows.append(
            {
                "feature": name,
                "mse_increase_mean": float(np.mean(increases)),
                "mse_increase_std": float(np.std(increases, ddof=1)) if repeats > 1 else 0.0,
                "repeats": repeats,
            }
        )
    return pd.DataFrame(rows).sort_values("mse_increase_mean", ascending=False)


def fit_final(
    run: dict, seeds: list[int], table: pd.DataFrame, split: dict, device: str = "cpu"
) -> tuple[Standardiser, TrainResult, np.ndarray, np.ndarray]:
    """Refit the scaler on train+val and train every seed there; the test rows are not seen."""
    fit_rows = np.concatenate([split["train"], split["val"]])
    fit = table.iloc[fit_rows]
    scaler = Standardiser.fit(fit[FEATURES])
    x = scaler.transform(fit[FEATURES]).astype(np.float32)
    y = fit[TARGET].to_numpy(dtype=np.float32)
    # No held-out rows remain: the per-epoch "val" curve is the fit set itself, for monitoring.
    result = train(run, seeds, x, y, x, y, device=device)
    return scaler, result, x, y


def bundle(run, seeds, scaler: Standardiser, result: TrainResult, metrics: dict) -> dict:
    """Everything needed to predict, in types that torch.load(weights_only=True) accepts."""
    return {
        "format": MODEL_FORMAT,
        "features": list(FEATURES),
        "target": TARGET,
        "hidden": list(run["hidden"]),
        "run": dict(run),
        "seeds": list(seeds),
        "scaler": scaler.to_dict(),
        "state_dicts": {f"seed_{s}": sd for s, sd in zip(seeds, result.state_dicts, strict=True)},
        "metrics": metrics,
    }


def load_model(path: str | Path) -> tuple[dict, Ensemble]:
    """Load a model file safely (weights_only=True) and check that it is complete."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        # torch's message is a paragraph; its "WeightsUnpickler error:" line names the cause.
        lines = [ln.strip() for ln in str(exc).splitlines() if "Unpickler error" in ln]
        cause = lines[0] if lines else "unsafe or unreadable content"
        raise ModelFileError(f"{path}: refused, not a safe model file ({cause})") from None
    except Exception as exc:
        raise ModelFileError(f"{path}: not a model file ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not a concrete-study model (expected {MODEL_FORMAT})")
    if data.get("features") != FEATURES:
        raise ModelFileError(f"{path}: feature list {data.get('features')} differs from {FEATURES}")
    try:
        ensemble = Ensemble(data["hidden"], Standardiser.from_dict(data["scaler"]), data["state_dicts"])
    except (KeyError, RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelFileError(f"{path}: damaged model file ({first})") from None
    return data, ensemble


def predict_table(ensemble: Ensemble, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The input rows with the ensemble's predicted strength (mean and std over seeds)."""
    # A known strength column may stay (to compare); any other extra column is an error.
    inputs = validate_table(frame.drop(columns=[TARGET], errors="ignore"), source, FEATURES)
    pred = ensemble.predict(inputs)
    out = frame.copy()
    out["predicted_strength_mpa"] = pred.mean(axis=0)
    out["predicted_strength_std_mpa"] = pred.std(axis=0, ddof=1) if len(pred) > 1 else 0.0
    return out
