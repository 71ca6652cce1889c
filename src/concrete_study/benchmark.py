"""The standard benchmark: 20 published 90/10 splits, each scored once on its test rows.

Per split, the test rows are used for the final score and nothing else: the candidates train on
an inner part of the split's training rows and are chosen (with their number of epochs) on its
inner validation rows, whose residuals also calibrate split-conformal intervals; the chosen
configuration then retrains on all the split's training rows. The replicas of every split and
seed of one candidate train side by side in one process, each on its own rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from concrete_study.data import TARGET, fit_and_scale
from concrete_study.engine import TrainResult, train
from concrete_study.evaluation import conformal_quantile, interval_coverage, regression_metrics
from concrete_study.markdown import markdown_table
from concrete_study.model_file import Ensemble
from concrete_study.records import seed_key
from concrete_study.runs import EPOCH_INDEPENDENT, Run


def budgets(run: Run, epochs: list[int]) -> list[int]:
    """The epoch budgets a candidate is judged at. Where the schedule ignores the total, every
    configured budget up to the run's own epochs, read from one trajectory; otherwise its own."""
    if run.scheduler not in EPOCH_INDEPENDENT:
        return [run.epochs]
    return sorted({e for e in epochs if e < run.epochs} | {run.epochs})


def _train_splits(run, seeds, parts, device, snapshot_epochs) -> TrainResult:
    """Train every (split, seed) replica side by side, split-major: replica s * K + k.

    `parts` holds per split (x_train, y_train, x_val, y_val), or (x_train, y_train) where
    nothing is validated."""
    repeat = len(seeds)
    stack = [np.repeat(np.stack(arrays), repeat, axis=0) for arrays in zip(*parts, strict=True)]
    x_val, y_val = stack[2:] or (None, None)
    return train(
        run, seeds * len(parts), *stack[:2], x_val, y_val, device=device, snapshot_epochs=snapshot_epochs
    )


def inner_predictions(
    run: Run, seeds: list[int], table: pd.DataFrame, splits: dict, epochs: list[int], device: str
) -> dict[str, np.ndarray]:
    """Train the candidate on each split's inner training rows (scaler fitted there); return its
    inner-validation predictions at each budget: (budgets, splits, seeds, rows)."""
    parts = []
    for inner_train, inner_val in zip(splits["inner_train"], splits["inner_val"], strict=True):
        _, a = fit_and_scale(table, {"fit": inner_train, "val": inner_val}, fit="fit")
        parts.append((a["X_fit"], a["y_fit"], a["X_val"], a["y_val"]))
    steps = budgets(run, epochs)
    result = _train_splits(run.with_epochs(steps[-1]), seeds, parts, device, tuple(steps))
    n_splits, n_seeds = len(parts), len(seeds)
    return {
        "epochs": np.asarray(steps),
        "predictions": np.stack(
            [result.val_predictions_at[e].reshape(n_splits, n_seeds, -1) for e in steps]
        ).astype(np.float64),
    }


def select(candidates: dict[str, dict], y_val: np.ndarray, level: float) -> list[dict]:
    """Per split, the candidate and budget whose seed ensemble has the lowest inner-validation
    MSE (ties: the first candidate, the fewer epochs), and the conformal half-width of its
    interval: the quantile of its absolute residuals there. `candidates` maps a name to
    `inner_predictions`' output."""
    chosen = []
    for s in range(len(y_val)):
        best = None
        for name, inner in candidates.items():
            for b, epochs in enumerate(inner["epochs"]):
                pred = inner["predictions"][b, s].mean(axis=0)
                mse = float(np.mean((pred - y_val[s]) ** 2))
                if best is None or mse < best["inner_val_mse"]:
                    residuals = y_val[s] - pred
                    best = {
                        "split": s,
                        "candidate": name,
                        "epochs": int(epochs),
                        "inner_val_mse": mse,
                        "half_width": conformal_quantile(residuals, level),
                    }
        chosen.append(best)
    return chosen


def retrain_and_test(
    run: Run, seeds: list[int], table: pd.DataFrame, splits: dict, chosen: list[dict], device: str
) -> pd.DataFrame:
    """Retrain the candidate on all training rows of the splits that chose it (each at its
    chosen epochs, read from one trajectory), then predict their test rows once."""
    columns = ["split", "row", "strength", "predicted", *[seed_key(s) for s in seeds]]
    if not chosen:
        return pd.DataFrame(columns=columns)
    parts, scalers = [], []
    for choice in chosen:
        train_rows = splits["train"][choice["split"]]
        scaler, a = fit_and_scale(table, {"fit": train_rows}, fit="fit")
        parts.append((a["X_fit"], a["y_fit"]))
        scalers.append(scaler)
    steps = sorted({c["epochs"] for c in chosen})
    # Nothing is held out: no validation, only the weights at the chosen budgets.
    result = _train_splits(run.with_epochs(steps[-1]), seeds, parts, device, tuple(steps))
    frames = []
    for i, (choice, scaler) in enumerate(zip(chosen, scalers, strict=True)):
        weights = result.state_dicts_at[choice["epochs"]][i * len(seeds) : (i + 1) * len(seeds)]
        ensemble = Ensemble(run.hidden, scaler, {seed_key(s): w for s, w in zip(seeds, weights, strict=True)})
        rows = splits["test"][choice["split"]]
        test = table.iloc[rows]
        per_seed = ensemble.predict(test)  # the one look at this split's test rows
        frame = pd.DataFrame(
            {"split": choice["split"], "row": rows, "strength": test[TARGET].to_numpy()}
        ).assign(predicted=per_seed.mean(axis=0), **{seed_key(s): per_seed[k] for k, s in enumerate(seeds)})
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[columns]


def per_split_scores(predictions: pd.DataFrame, chosen: list[dict], seeds: list[int]) -> pd.DataFrame:
    """Each split's choice, the ensemble's and the mean single model's test metrics, and the
    coverage and width of its conformal intervals."""
    rows = []
    for choice in chosen:
        p = predictions[predictions["split"] == choice["split"]]
        y = p["strength"].to_numpy()
        ens = regression_metrics(y, p["predicted"].to_numpy())
        single = [regression_metrics(y, p[seed_key(s)].to_numpy()) for s in seeds]
        pred, half = p["predicted"].to_numpy(), choice["half_width"]
        rows.append(
            {
                **choice,
                **ens,
                **{f"single_{k}": float(np.mean([m[k] for m in single])) for k in ens},
                "coverage": interval_coverage(y, pred - half, pred + half),
                "width": 2 * half,
                "test_rows": len(p),
            }
        )
    return pd.DataFrame(rows)


def summarize_benchmark(per_split: pd.DataFrame, predictions: pd.DataFrame, level: float) -> dict:
    """Mean ± standard error over splits, as papers on this protocol report; coverage over all
    test rows."""
    n = len(per_split)

    def se(column: str) -> float:
        return float(per_split[column].std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan

    out = {"splits": n, "level": level}
    for prefix in ("", "single_"):
        for metric in ("rmse", "mse", "mae", "r2"):
            out[f"{prefix}{metric}_mean"] = float(per_split[f"{prefix}{metric}"].mean())
            out[f"{prefix}{metric}_se"] = se(f"{prefix}{metric}")
    out["coverage"] = interval_coverage(predictions["strength"], predictions["lower"], predictions["upper"])
    out["width_mean"] = float((predictions["upper"] - predictions["lower"]).mean())
    out["test_rows"] = int(len(predictions))
    out["chosen"] = (
        per_split.groupby(["candidate", "epochs"]).size().rename("splits").reset_index().to_dict("records")
    )
    return out


def interval_predictions(predictions: pd.DataFrame, chosen: list[dict]) -> pd.DataFrame:
    """One line per split and test row: the ensemble's prediction and its conformal interval."""
    half = predictions["split"].map({c["split"]: c["half_width"] for c in chosen})
    out = predictions[["split", "row", "strength", "predicted"]].copy()
    out["lower"] = out["predicted"] - half
    out["upper"] = out["predicted"] + half
    return out.sort_values(["split", "row"]).reset_index(drop=True)


def comparison_table(summary: dict, published: pd.DataFrame) -> pd.DataFrame:
    """This project's result beside the published ones, each with its protocol and source."""
    ours = {
        "method": "This project: MLP seed ensemble, selected per split on inner validation rows",
        "rmse": summary["rmse_mean"],
        "error": summary["rmse_se"],
        "error_kind": "se",
        "protocol": f"{summary['splits']} standard 90/10 splits",
        "comparable": "yes",
        "source": "results/benchmark/summary.json",
    }
    return pd.concat([pd.DataFrame([ours]), published], ignore_index=True)


def comparison_markdown(table: pd.DataFrame, summary: dict) -> str:
    """The comparison as Markdown: ± is a standard error unless marked (sd)."""
    lines = [
        "# The standard benchmark: test RMSE (MPa) over the published splits",
        "",
    ]
    rows = []
    for r in table.itertuples():
        error = "" if pd.isna(r.error) else f" ± {r.error:.2f}" + (" (sd)" if r.error_kind == "sd" else "")
        rows.append([r.method, f"{r.rmse:.2f}{error}", r.protocol, r.comparable, r.source])
    header = ["method", "test RMSE", "protocol", "directly comparable", "source"]
    lines += [
        *markdown_table(header, rows, "lrlll"),
        "",
        f"± is the standard error over splits unless marked (sd). This project over {summary['splits']} "
        f"splits: mean single model {summary['single_rmse_mean']:.2f} ± {summary['single_rmse_se']:.2f}; "
        f"{summary['level']:.0%} split-conformal intervals covered {summary['coverage']:.1%} of "
        f"{summary['test_rows']} test rows with a mean width of {summary['width_mean']:.1f} MPa.",
        "",
    ]
    return "\n".join(lines)
