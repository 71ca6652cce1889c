"""Scoring predictions: regression metrics, split-conformal intervals, a bootstrap interval,
permutation importance."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


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


def conformal_quantile(residuals: np.ndarray, level: float) -> float:
    """The ⌈(n+1)·level⌉-th smallest absolute residual of n calibration rows.

    ŷ ± q then covers a new exchangeable row with probability at least `level`; with too few
    rows for that rank, no finite interval does, and q is infinite.
    """
    scores = np.sort(np.abs(np.asarray(residuals, dtype=np.float64)))
    rank = math.ceil((len(scores) + 1) * level)
    return float(scores[rank - 1]) if rank <= len(scores) else math.inf


def seed_spread(*parts: np.ndarray) -> np.ndarray:
    """How much a model's members disagree on each row (MPa): the root of the summed seed
    variances of its parts, each (seeds, rows), plus for a blend of two parts the squared gap
    between their means."""
    var = sum(np.var(p, axis=0, ddof=1) if len(p) > 1 else np.zeros(p.shape[1]) for p in parts)
    if len(parts) == 2:
        var = var + (parts[0].mean(axis=0) - parts[1].mean(axis=0)) ** 2
    return np.sqrt(var)


def blend_weight(network, peer, strength, weights: list[float]) -> tuple[float, float]:
    """The weight on the network, of `weights` (the config's `benchmark.peer.blend_weights`), whose
    weight * network + (1 - weight) * peer predicts `strength` best (ties: the first), and that
    blend's MSE. `strength` is rows neither model trained on."""
    mse = [float(np.mean((w * network + (1 - w) * peer - strength) ** 2)) for w in weights]
    return float(weights[int(np.argmin(mse))]), min(mse)


def calibration_rows(strength, parts: list[np.ndarray], weight: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """What an interval is calibrated on, from rows the model did not train on: the residuals of
    its prediction (a part's seed mean, or for two parts weight x the first's + (1 - weight) x
    the second's) and each row's `seed_spread`. Each part is (seeds, rows)."""
    means = [p.mean(axis=0) for p in parts]
    predicted = means[0] if len(means) == 1 else weight * means[0] + (1 - weight) * means[1]
    return strength - predicted, seed_spread(*parts)


WIDTHS = ("fixed", "spread")


@dataclass(frozen=True)
class Interval:
    """A split-conformal interval, calibrated on rows the model did not train on.

    width "fixed": prediction ± scale, the same for every row. width "spread": prediction ±
    scale x (spread + offset), where spread is `seed_spread` of the row and offset the median
    spread of the calibration rows, so that a row the members happen to agree on keeps a width.
    The offset is a rule, not a tuned constant."""

    level: float
    width: str
    scale: float
    offset: float = 0.0

    @classmethod
    def calibrate(cls, residuals, spread, level: float, width: str) -> Interval:
        if width not in WIDTHS:
            raise ValueError(f"interval width {width!r} is not one of {list(WIDTHS)}")
        offset = float(np.median(spread)) if width == "spread" else 0.0
        if offset <= 0:  # one seed and no peer: no spread to follow
            return cls(level, "fixed", conformal_quantile(residuals, level))
        scores = np.abs(np.asarray(residuals, dtype=np.float64)) / (np.asarray(spread) + offset)
        return cls(level, width, conformal_quantile(scores, level), offset)

    def half_width(self, spread) -> np.ndarray | float:
        """The half-width (MPa) at rows of this spread."""
        if self.width == "fixed":
            return self.scale
        return self.scale * (np.asarray(spread, dtype=np.float64) + self.offset)

    def to_dict(self) -> dict:
        return asdict(self)


def conformal_interval(pred, half_width) -> tuple[np.ndarray, np.ndarray]:
    """prediction ± half-width, neither end below 0 MPa: a strength is never negative."""
    pred = np.asarray(pred, dtype=np.float64)
    return np.maximum(pred - half_width, 0.0), np.maximum(pred + half_width, 0.0)


def interval_coverage(true, lower, upper) -> float:
    """The fraction of rows whose strength lies within its interval, bounds included."""
    return float(np.mean((np.asarray(lower) <= true) & (true <= np.asarray(upper))))


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


def permutation_importance(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    features: list[str],
    repeats: int,
    seed: int = 0,
) -> pd.DataFrame:
    """Increase of the MSE of `predict` when one input column is shuffled, repeated."""
    rng = np.random.default_rng(seed)
    base = float(np.mean((predict(x) - y) ** 2))
    rows = []
    for j, name in enumerate(features):
        increases = []
        for _ in range(repeats):
            shuffled = x.copy()
            shuffled[:, j] = rng.permutation(shuffled[:, j])
            increases.append(float(np.mean((predict(shuffled) - y) ** 2)) - base)
        rows.append(
            {
                "feature": name,
                "mse_increase_mean": float(np.mean(increases)),
                "mse_increase_std": float(np.std(increases, ddof=1)) if repeats > 1 else 0.0,
                "repeats": repeats,
            }
        )
    return pd.DataFrame(rows).sort_values("mse_increase_mean", ascending=False)
