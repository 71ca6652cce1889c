"""Every figure of the study, in one style. Functions take data and a path; they save a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from concrete_study.dataset import Dataset  # noqa: E402
from concrete_study.files import atomic_path  # noqa: E402

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
COLOURS = plt.get_cmap("tab10").colors


def _save(fig, path: str | Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _figure(*args, **kwargs):
    plt.rcParams.update(STYLE)
    return plt.subplots(*args, **kwargs)


def input_histogram(table: pd.DataFrame, dataset: Dataset, path) -> None:
    """Figure 1: distribution of the input the figures show (Dataset.figure_input)."""
    column = dataset.figure_input
    fig, ax = _figure(figsize=(6, 4))
    ax.hist(table[column], bins=30, color=COLOURS[0], edgecolor="white")
    ax.set(xlabel=dataset.label(column), ylabel="rows", title=f"Distribution of {column}")
    _save(fig, path)


def input_boxplots(table: pd.DataFrame, dataset: Dataset, path) -> None:
    """Figure 2: box plots of all inputs, standardised so that they share one axis."""
    features = dataset.features
    z = (table[features] - table[features].mean()) / table[features].std(ddof=0)
    fig, ax = _figure(figsize=(8, max(4.5, 0.35 * len(features) + 1.7)))
    ax.boxplot([z[c] for c in features], vert=False, tick_labels=features, flierprops={"ms": 3})
    ax.invert_yaxis()
    ax.set(xlabel="standardised value (z-score)", title="Inputs: spread, skew and outliers")
    _save(fig, path)


def input_target_hist2d(table: pd.DataFrame, dataset: Dataset, path) -> None:
    """Figure 3: joint density of the figures' input and the target."""
    column = dataset.figure_input
    fig, ax = _figure(figsize=(6, 4.5))
    *_, image = ax.hist2d(table[column], table[dataset.target], bins=25, cmap="viridis", cmin=1)
    fig.colorbar(image, ax=ax, label="rows per bin")
    ax.set(
        xlabel=dataset.label(column),
        ylabel=dataset.label(dataset.target),
        title=f"{column} vs {dataset.target}",
    )
    ax.grid(False)
    _save(fig, path)


def _band(ax, epochs, values, colour, style, label):
    """Mean over seeds as a line, min-max over seeds as a band."""
    mean = np.nanmean(values, axis=1)
    ax.plot(epochs, mean, linestyle=style, color=colour, label=label, lw=1.3)
    ax.fill_between(
        epochs, np.nanmin(values, axis=1), np.nanmax(values, axis=1), color=colour, alpha=0.15, lw=0
    )


def _per_seed(history: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    wide = history.pivot(index="epoch", columns="seed", values=column)
    return wide.index.to_numpy(), wide.to_numpy()


def learning_curves(
    curves: list[tuple[str, pd.DataFrame]], baseline: float, path, title: str, dataset: Dataset
) -> None:
    """Figures 5, 7, 8: train (dashed) and val (solid) MSE per epoch; mean and spread of seeds.

    `curves` holds (label, history of the run); `baseline` is the mean-predictor's val MSE,
    drawn as a horizontal line. Log scale: losses span decades.
    """
    fig, ax = _figure(figsize=(8, 5))
    _curves(ax, curves, baseline, dataset, title)
    ax.legend(ncol=2)
    _save(fig, path)


def _curves(ax, curves, baseline: float, dataset: Dataset, title: str) -> None:
    """Train (dashed) and val (solid) MSE of each (label, history), and the baseline, on `ax`."""
    for i, (label, history) in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        x, train = _per_seed(history, "train_mse")
        _, val = _per_seed(history, "val_mse")
        _band(ax, x, train, colour, "--", f"{label} train")
        _band(ax, x, val, colour, "-", f"{label} val")
    ax.axhline(baseline, color="black", lw=1, ls=":", label=f"mean predictor (val) {baseline:.1f}")
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel=dataset.mse_label(), title=title)


def regularization_curves(
    panels: list[tuple[str, list[tuple[str, pd.DataFrame]]]], baseline: float, path, dataset: Dataset
) -> None:
    """Learning curves with and without regularization: a panel (title, curves) per architecture,
    on one y axis."""
    fig, axes = _figure(1, len(panels), figsize=(6 * len(panels), 4.5), sharey=True, squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels, strict=True):
        _curves(ax, curves, baseline, dataset, title)
        ax.legend()
    _save(fig, path)


def learning_rate_schedules(schedules: list[tuple[str, np.ndarray]], path) -> None:
    """Figure 9: the learning rate used in each epoch, as recorded during training."""
    fig, ax = _figure(figsize=(7, 4))
    for i, (label, lr) in enumerate(schedules):
        ax.step(np.arange(1, len(lr) + 1), lr, where="post", color=COLOURS[i % 10], label=label)
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="learning rate", title="Learning rate per epoch (recorded)")
    ax.legend()
    _save(fig, path)


def weight_histograms(layers: list[tuple[str, np.ndarray, int]], path, title: str) -> None:
    """Figure 11: weights of each layer, with PyTorch's init bound ±1/sqrt(fan_in) marked."""
    fig, axes = _figure(1, len(layers), figsize=(4 * len(layers), 3.5), squeeze=False)
    for ax, (name, weights, fan_in) in zip(axes[0], layers, strict=True):
        bound = 1 / np.sqrt(fan_in)
        ax.hist(weights.ravel(), bins=40, color=COLOURS[0], edgecolor="white")
        for b in (-bound, bound):
            ax.axvline(b, color="crimson", ls="--", lw=1)
        ax.set(
            title=f"{name} ({weights.shape[0]}×{weights.shape[1]}), ±1/√{fan_in}={bound:.3f}",
            xlabel="weight",
            ylabel="count",
        )
    fig.suptitle(title)
    _save(fig, path)


def weight_heatmaps(layers: list[tuple[str, np.ndarray]], limits: list[float], path, title):
    """Figures 12, 13: each layer's weight matrix (out × in), colour scale shared per layer."""
    fig, axes = _figure(1, len(layers), figsize=(4.5 * len(layers), 4), squeeze=False)
    for ax, (name, weights), lim in zip(axes[0], layers, limits, strict=True):
        image = ax.imshow(weights, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        fig.colorbar(image, ax=ax, label="weight")
        ax.set(
            title=f"{name} ({weights.shape[0]}×{weights.shape[1]})",
            xlabel="input unit",
            ylabel="output unit",
        )
        ax.grid(False)
    fig.suptitle(title)
    _save(fig, path)


def gradient_bars(gradients: pd.DataFrame, path, title: str, log: bool = False) -> None:
    """Figures 14-17: mean |gradient| per layer in the last epoch; bars are the mean over seeds,
    whiskers the min-max over seeds."""
    stats = gradients.groupby(["layer_index", "layer"])["mean_abs_grad"].agg(["mean", "min", "max"])
    stats = stats.reset_index().sort_values("layer_index")
    many = len(stats) > 20
    fig, ax = _figure(figsize=(max(6, min(16, 0.12 * len(stats) + 4)), 4))
    x = np.arange(len(stats))
    err = [stats["mean"] - stats["min"], stats["max"] - stats["mean"]]
    ax.bar(x, stats["mean"], yerr=err, color=COLOURS[0], capsize=0 if many else 3, error_kw={"lw": 0.6})
    if many:
        ax.set_xlabel("layer (0 = first hidden layer, last = output)")
    else:
        ax.set_xticks(x, stats["layer"], rotation=45 if len(stats) > 6 else 0)
        ax.set_xlabel("layer")
    if log:
        ax.set_yscale("log")
        zero = int((stats["max"] == 0).sum())
        if zero:
            ax.text(
                0.01,
                0.97,
                f"{zero} layers with zero gradient in every seed (no bar)",
                transform=ax.transAxes,
                va="top",
                fontsize=8,
            )
    ax.set(ylabel="mean |gradient|, last epoch", title=title)
    _save(fig, path)


def first_layer_gradient_vs_depth(rows: pd.DataFrame, path) -> None:
    """Mean |gradient| of the first hidden layer against the number of hidden layers."""
    stats = rows.groupby("depth")["mean_abs_grad"].agg(["mean", "min", "max"]).reset_index()
    fig, ax = _figure(figsize=(6, 4))
    ax.errorbar(
        stats["depth"],
        stats["mean"],
        yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
        marker="o",
        color=COLOURS[0],
        capsize=3,
    )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set(
        xlabel="hidden layers",
        ylabel="mean |gradient| of first layer, last epoch",
        title="Vanishing gradients with depth",
    )
    _save(fig, path)


def predicted_vs_true(
    panels: list[tuple[str, np.ndarray, np.ndarray]], path, title: str, dataset: Dataset
) -> None:
    """Figures 18-20: predicted against true target, with the diagonal of perfect predictions."""
    fig, axes = _figure(1, len(panels), figsize=(5 * len(panels), 4.6), squeeze=False)
    for ax, (label, true, pred) in zip(axes[0], panels, strict=True):
        # From the target's declared bound where there is one (0 for concrete): an axis from 0.
        lo = float(min(true.min(), np.nanmin(pred), *[b for b in [dataset.lower_bound()] if b is not None]))
        hi = float(max(true.max(), np.nanmax(pred))) * 1.04  # room for the points on the edge
        ax.scatter(true, pred, s=10, alpha=0.6, color=COLOURS[0])
        ax.plot([lo, hi], [lo, hi], color="crimson", lw=1, label="predicted = true")
        mse = float(np.mean((pred - true) ** 2))
        ax.set(
            xlabel=f"true {dataset.label(dataset.target)}",
            ylabel=f"predicted {dataset.label(dataset.target)}",
            title=f"{label}: MSE {mse:.2f}",
            xlim=(lo, hi),
            ylim=(lo, hi),
        )
        ax.set_aspect("equal")
        ax.legend(loc="upper left")
    fig.suptitle(title)
    _save(fig, path)


def feature_importance(table: pd.DataFrame, path, dataset: Dataset) -> None:
    """Permutation importance: increase of test MSE when one input is shuffled."""
    table = table.sort_values("mse_increase_mean")
    fig, ax = _figure(figsize=(6, 4))
    ax.barh(
        table["feature"],
        table["mse_increase_mean"],
        xerr=table["mse_increase_std"],
        color=COLOURS[0],
        capsize=3,
    )
    ax.set(
        xlabel="increase in test MSE when shuffled"
        + (f" ({dataset.mse_unit()})" if dataset.mse_unit() else ""),
        title="Permutation feature importance (final ensemble)",
    )
    _save(fig, path)


def benchmark_rmse(
    per_split: pd.DataFrame, comparison: pd.DataFrame, path, dataset: Dataset, splits: str
) -> None:
    """Test RMSE of each benchmark split (ensemble and mean single model), this project's mean,
    and the published means on the same protocol drawn across."""
    fig, ax = _figure(figsize=(9, 5))
    x = per_split["split"].to_numpy()
    ax.scatter(x, per_split["rmse"], color=COLOURS[0], zorder=3, label="seed ensemble, per split")
    ax.scatter(
        x, per_split["single_rmse"], color=COLOURS[0], marker="x", alpha=0.5, label="mean single model"
    )
    ax.axhline(
        per_split["rmse"].mean(),
        color=COLOURS[0],
        lw=1.5,
        label=f"this project {per_split['rmse'].mean():.2f}",
    )
    if "peer_rmse" in per_split:
        ax.scatter(
            x,
            per_split["peer_rmse"],
            color=COLOURS[1],
            marker="s",
            zorder=3,
            label="LightGBM peer, per split",
        )
        ax.axhline(
            per_split["peer_rmse"].mean(),
            color=COLOURS[1],
            lw=1.5,
            label=f"peer {per_split['peer_rmse'].mean():.2f}",
        )
    published = comparison[comparison["comparable"].eq("yes") & comparison["measured"].eq("published")]
    for i, r in enumerate(published.itertuples(), start=1):
        ax.axhline(
            r.rmse, color=COLOURS[(i + 1) % len(COLOURS)], lw=1, ls="--", label=f"{r.method} {r.rmse:.2f}"
        )
    ax.set(
        xlabel="split",
        ylabel=dataset.in_unit("test RMSE"),
        title=f"Standard benchmark: test RMSE over {len(per_split)} {splits} 90/10 splits",
        xticks=x,
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    _save(fig, path)
