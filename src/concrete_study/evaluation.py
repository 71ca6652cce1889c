"""Scoring predictions: regression metrics, split-conformal intervals, a bootstrap interval,
permutation importance."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


def regression_metrics(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MSE, RMSE, MAE and R² of predictions, in the target's unit."""
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
    """How much a model's members disagree on each row, in the target's unit: the root of the summed seed
    variances of its parts, each (seeds, rows), plus for a blend of two parts the squared gap
    between their means."""
    var = sum(np.var(p, axis=0, ddof=1) if len(p) > 1 else np.zeros(p.shape[1]) for p in parts)
    if len(parts) == 2:
        var = var + (parts[0].mean(axis=0) - parts[1].mean(axis=0)) ** 2
    return np.sqrt(var)


@dataclass(frozen=True)
class Blend:
    """How a model's parts make its prediction: the network alone, or the network and the peer
    averaged with equal weight, seed k of one with seed k of the other. `parts` below are arrays
    of the same shape, one a part: per-seed predictions (seeds, rows), or columns of them."""

    parts: int = 1

    @property
    def weights(self) -> tuple[float, ...]:
        return (1.0,) if self.parts == 1 else (0.5, 0.5)

    def combine(self, parts):
        """The blended prediction of the parts' predictions."""
        if len(parts) != self.parts:
            raise ValueError(f"a blend of {self.parts} parts was given {len(parts)}")
        return sum(w * p for w, p in zip(self.weights, parts, strict=True))

    def calibration(self, target, parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """What an interval is calibrated on, from per-seed predictions of rows the parts did
        not train on: the blend's residuals there, and each row's `seed_spread`."""
        return target - self.combine([p.mean(axis=0) for p in parts]), seed_spread(*parts)


@dataclass(frozen=True)
class Interval:
    """A split-conformal interval, calibrated on rows the model did not train on.

    Prediction ± scale x (spread + offset), where spread is `seed_spread` of the row and offset
    the median spread of the calibration rows, so that a row the members happen to agree on keeps
    a width (the offset is a rule, not a tuned constant). A model of one seed and no peer has no
    spread: its interval is "fixed", prediction ± scale for every row."""

    level: float
    width: str  # "spread", or "fixed"
    scale: float
    offset: float = 0.0

    @classmethod
    def calibrate(cls, residuals, spread, level: float) -> Interval:
        offset = float(np.median(spread))
        if offset <= 0:
            return cls(level, "fixed", conformal_quantile(residuals, level))
        scores = np.abs(np.asarray(residuals, dtype=np.float64)) / (np.asarray(spread) + offset)
        return cls(level, "spread", conformal_quantile(scores, level), offset)

    def half_width(self, spread) -> np.ndarray | float:
        """The half-width at rows of this spread."""
        if self.width == "fixed":
            return self.scale
        return self.scale * (np.asarray(spread, dtype=np.float64) + self.offset)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> Interval:
        return cls(
            float(record["level"]), str(record["width"]), float(record["scale"]), float(record["offset"])
        )


def conformal_interval(pred, half_width, lower: float | None) -> tuple[np.ndarray, np.ndarray]:
    """prediction ± half-width, neither end below `lower` where the table declares a bound on its
    target (Dataset.lower_bound: a quantity that is never negative, say)."""
    pred = np.asarray(pred, dtype=np.float64)
    low, high = pred - half_width, pred + half_width
    if lower is None:
        return low, high
    return np.maximum(low, lower), np.maximum(high, lower)


def interval_coverage(true, lower, upper) -> float:
    """The fraction of rows whose target lies within its interval, bounds included."""
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
