"""The study's result on one page: the final model, the standard benchmark and the intervals in a
dozen numbers, beside the original study, the baselines and the published results."""

from __future__ import annotations

import math

import pandas as pd

from concrete_study.dataset import Dataset
from concrete_study.markdown import render

# The three models the benchmark measures, as every table names them.
METHODS = {
    "network": "This project: MLP seed ensemble, chosen per split on inner rows",
    "peer": "LightGBM peer, a seed ensemble tuned per split on the same inner rows",
    "blend": "Equal blend of the network and the peer",
}
# The columns of a published-results file (dataset.published).
PUBLISHED_COLUMNS = ["method", "rmse", "error", "error_kind", "protocol", "comparable", "source"]


def read_published(paths: list[str]) -> pd.DataFrame:
    """The published results (dataset.published: a list of one file, or of none)."""
    return pd.read_csv(paths[0]) if paths else pd.DataFrame(columns=PUBLISHED_COLUMNS)


def headline(final: dict, benchmark: dict) -> dict:
    """The numbers `dvc metrics show` prints: what a reader compares between commits."""
    lo, hi = final["test_mse_ci95"]
    interval = final["interval"]
    peers = {
        f"{name}_rmse_mean": benchmark[name]["rmse_mean"] for name in ("peer", "blend") if name in benchmark
    }
    return {
        "final": {
            "test_rmse": final["test_rmse"],
            "test_rmse_ci95_low": math.sqrt(lo),
            "test_rmse_ci95_high": math.sqrt(hi),
            "test_mae": final["test_mae"],
            "test_r2": final["test_r2"],
        },
        "benchmark": {
            "rmse_mean": benchmark["rmse_mean"],
            "rmse_se": benchmark["rmse_se"],
            "single_rmse_mean": benchmark["single_rmse_mean"],
            **peers,
        },
        "interval": {
            "level": interval["level"],
            "final_half_width_mean": interval["test_half_width_mean"],
            "final_coverage": interval["test_coverage"],
            "benchmark_coverage": benchmark["coverage"],
            "benchmark_width_mean": benchmark["width_mean"],
        },
    }


def final_name(final: dict) -> str:
    """The final model in words: its network, snapshots, seeds and blend."""
    run = final["run"]
    network = f"MLP [{', '.join(str(w) for w in run['hidden'])}]"
    network += " on the derived inputs" if run.get("inputs") == "derived" else ""
    network += " through periodic embeddings" if run.get("embedding") == "periodic" else ""
    if run.get("snapshots"):
        network += f", each seed the mean of {len(run['snapshots']) + 1} snapshots"
    seeds = len(final["seeds"])
    if "blend" in final:
        return f"Final model: {network}, blended in equal parts with LightGBM, {seeds} seeds each"
    return f"Final model: {network}, {seeds}-seed ensemble"


def final_rows(final: dict, dataset: Dataset, reference: dict | None) -> list[list[str]]:
    """The final model, its parts alone, and what it is compared with on the same test rows: a
    reference result where the config gives one (dataset.reference), the baselines."""
    lo, hi = (math.sqrt(v) for v in final["test_mse_ci95"])

    def scores(name: str, m: dict) -> list[str]:
        return [name, f"{m['rmse']:.2f}", f"{m['mae']:.2f}", f"{m['r2']:.3f}", f"{m['mse']:.2f}"]

    def by_mse(name: str, mse: float) -> list[str]:
        return [name, f"{math.sqrt(mse):.2f}", "", "", f"{mse:.2f}"]

    ours = scores(final_name(final), {k: final[f"test_{k}"] for k in ("rmse", "mae", "r2", "mse")})
    ours[1] += f" ({lo:.2f}-{hi:.2f})"
    parts = [
        scores(f"{label} alone", final[p])
        for p, label in (("network", "Its network"), ("peer", "Its LightGBM peer"))
        if p in final
    ]
    return [
        ours,
        *parts,
        by_mse("Mean single seed", final["test_mse_mean_single_seed"]),
        *([by_mse(reference["name"], reference["test_mse"])] if reference else []),
        by_mse("Linear regression", final["baseline_linear_test_mse"]),
        by_mse(f"Mean {dataset.target}", final["baseline_mean_test_mse"]),
    ]


def benchmark_rows(benchmark: dict, published: pd.DataFrame) -> list[list[str]]:
    """The benchmark's models measured here, and the best published result on the same splits."""
    models = {"network": benchmark, **{k: benchmark[k] for k in ("peer", "blend") if k in benchmark}}
    rows = [
        [METHODS[k], f"{b['rmse_mean']:.2f} ± {b['rmse_se']:.2f}", "measured here"] for k, b in models.items()
    ]
    rows.insert(
        1,
        [
            "This project: mean single model",
            f"{benchmark['single_rmse_mean']:.2f} ± {benchmark['single_rmse_se']:.2f}",
            "measured here",
        ],
    )
    comparable = published[published["comparable"] == "yes"]
    if comparable.empty:
        return rows
    best = comparable.loc[comparable["rmse"].idxmin()]
    error = f" ± {best['error']:.2f}" + (" (sd)" if best["error_kind"] == "sd" else "")
    return [*rows, [f"Best published: {best['method']}", f"{best['rmse']:.2f}{error}", best["source"]]]


def interval_text(final: dict, benchmark: dict, dataset: Dataset) -> str:
    """The intervals' level, coverage and width, on the final model's and the benchmark's test rows."""
    interval = final["interval"]
    low, high = interval["test_half_width_range"]
    spread = f" on average (from {low:.1f} to {high:.1f})" if high > low else ""
    models = [
        ("the network", benchmark),
        ("the peer", benchmark.get("peer")),
        ("the blend", benchmark.get("blend")),
    ]
    measured = "; ".join(
        f"{name} {b['coverage']:.1%}, mean width {dataset.amount(format(b['width_mean'], '.1f'))}"
        for name, b in models
        if b
    )
    return (
        f"{interval['level']:.0%} split-conformal intervals, wider where the seeds and models disagree: "
        f"the final model's, ± {dataset.amount(format(interval['test_half_width_mean'], '.1f'))}{spread}, "
        "covered "
        f"{interval['test_coverage']:.1%} of its {final['test_rows']} test rows. On the benchmark's "
        f"{benchmark['test_rows']:,} test rows: {measured}."
    )


def summary_page(
    final: dict,
    benchmark: dict,
    published: pd.DataFrame,
    kind: str,
    dataset: Dataset,
    reference: dict | None,
    splits: str,
) -> str:
    """The page that opens the report (`kind` "rst") and that the study's summary.md holds ("md").
    `splits` says which splits the benchmark scored: "published" or "seeded random"."""
    rmse = "test RMSE, " + dataset.unit(dataset.target) if dataset.unit(dataset.target) else "test RMSE"
    mse = "MSE, " + dataset.mse_unit() if dataset.mse_unit() else "MSE"
    page = [
        ("title", "The result"),
        ("heading", f"Final model: {final['test_rows']} test rows, looked at once"),
        (
            "table",
            ["model", f"{rmse} (95% bootstrap)", "MAE", "R²", mse],
            final_rows(final, dataset, reference),
            "lrrrr",
        ),
        (
            "heading",
            f"Standard benchmark: {benchmark['splits']} {splits} 90/10 splits, "
            f"{dataset.in_unit('test RMSE')}, mean ± SE",
        ),
        ("table", ["model", "test RMSE", "source"], benchmark_rows(benchmark, published), "lrl"),
        ("heading", "Prediction intervals"),
        ("text", interval_text(final, benchmark, dataset)),
    ]
    return render(page, kind)
