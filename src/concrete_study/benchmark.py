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
from concrete_study.evaluation import (
    Interval,
    blend_weight,
    calibration_rows,
    conformal_interval,
    interval_coverage,
    regression_metrics,
    seed_spread,
)
from concrete_study.files import atomic_path
from concrete_study.markdown import markdown_table
from concrete_study.model_file import Ensemble
from concrete_study.records import seed_key
from concrete_study.runs import EPOCH_INDEPENDENT, Run


def budgets(run: Run, epochs: list[int]) -> list[int]:
    """The epoch budgets a candidate is judged at. Where the schedule ignores the total and the
    run keeps no snapshots, every configured budget up to the run's own epochs, read from one
    trajectory; otherwise its own."""
    if run.scheduler not in EPOCH_INDEPENDENT or run.snapshots:
        return [run.epochs]
    return sorted({e for e in epochs if e < run.epochs} | {run.epochs})


def _kept(run: Run, steps: list[int]) -> tuple[int, ...]:
    """The epochs a trajectory keeps weights and predictions at: every budget's members (the
    budgets themselves and the run's snapshots)."""
    return tuple(sorted(set(steps) | set(run.snapshots)))


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


def read_inner(paths: list, names: list[str]) -> dict[str, dict]:
    """Each candidate's inner predictions over all splits, from the files of its jobs: `paths`
    lists them candidate by candidate (the same number each), each candidate's in split order."""
    per_candidate = len(paths) // len(names)
    inner = {}
    for i, name in enumerate(names):
        parts = []
        for path in paths[i * per_candidate : (i + 1) * per_candidate]:
            with np.load(path) as npz:
                parts.append(dict(npz))
        numbers = np.concatenate([p["splits"] for p in parts])
        if not np.array_equal(numbers, np.arange(len(numbers))):
            found = numbers.tolist()
            raise ValueError(f"{name}: the inner files hold splits {found}, not 0-{len(numbers) - 1}")
        inner[name] = {
            "epochs": parts[0]["epochs"],
            "y_val": np.concatenate([p["y_val"] for p in parts]),
            "predictions": np.concatenate([p["predictions"] for p in parts], axis=1),
        }
    return inner


def inner_predictions(
    run: Run, seeds: list[int], table: pd.DataFrame, splits: dict, epochs: list[int], device: str
) -> dict[str, np.ndarray]:
    """Train the candidate on each split's inner training rows (scaler fitted there); return its
    inner-validation predictions at each budget, (budgets, splits, seeds, rows), and those rows'
    strength, (splits, rows)."""
    parts = []
    for inner_train, inner_val in zip(splits["inner_train"], splits["inner_val"], strict=True):
        _, a = fit_and_scale(table, {"fit": inner_train, "val": inner_val}, fit="fit", columns=run.columns)
        parts.append((a["X_fit"], a["y_fit"], a["X_val"], a["y_val"]))
    steps = budgets(run, epochs)
    result = _train_splits(run.with_epochs(steps[-1]), seeds, parts, device, _kept(run, steps))
    n_splits, n_seeds = len(parts), len(seeds)
    return {
        "epochs": np.asarray(steps),
        "predictions": np.stack(
            [
                result.member_predictions(run.with_epochs(e).members).reshape(n_splits, n_seeds, -1)
                for e in steps
            ]
        ).astype(np.float64),
        "y_val": np.stack([table.iloc[rows][TARGET].to_numpy() for rows in splits["inner_val"]]),
    }


def write_inner(path, numbers: list[int], inner: dict[str, np.ndarray]) -> None:
    """One job's `inner_predictions` for the splits `numbers`, as `read_inner` reads it."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, splits=np.asarray(numbers), **inner)


def select(candidates: dict[str, dict], y_val: np.ndarray) -> list[dict]:
    """Per split, the candidate and budget whose seed ensemble has the lowest inner-validation
    MSE (ties: the first candidate, the fewer epochs). `candidates` maps a name to
    `inner_predictions`' output."""
    chosen = []
    for s in range(len(y_val)):
        best = None
        for name, inner in candidates.items():
            for b, epochs in enumerate(inner["epochs"]):
                pred = inner["predictions"][b, s].mean(axis=0)
                mse = float(np.mean((pred - y_val[s]) ** 2))
                if best is None or mse < best["inner_val_mse"]:
                    best = {"split": s, "candidate": name, "epochs": int(epochs), "inner_val_mse": mse}
        chosen.append(best)
    return chosen


def chosen_inner_seeds(candidates: dict[str, dict], choice: dict) -> np.ndarray:
    """The inner-validation predictions of a split's choice, per seed: (seeds, rows)."""
    inner = candidates[choice["candidate"]]
    return inner["predictions"][list(inner["epochs"]).index(choice["epochs"]), choice["split"]]


def seed_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("seed_")]


def with_spread(predictions: pd.DataFrame) -> pd.DataFrame:
    """Test predictions with each row's seed spread (evaluation.seed_spread)."""
    return predictions.assign(spread=seed_spread(predictions[seed_columns(predictions)].to_numpy().T))


def calibrated(
    predictions: pd.DataFrame, chosen: list[dict], calibration: dict, level: float, width: str
) -> tuple[list[dict], pd.DataFrame]:
    """Per split, the split-conformal interval calibrated on its inner validation rows
    (`calibration` maps a split to their residuals and spread), and each test row's half-width
    from its own spread (the `spread` column)."""
    choices, half = [], pd.Series(np.nan, index=predictions.index)
    for choice in chosen:
        interval = Interval.calibrate(*calibration[choice["split"]], level, width)
        choices.append({**choice, "interval": interval.to_dict()})
        rows = predictions["split"] == choice["split"]
        half[rows] = interval.half_width(predictions.loc[rows, "spread"].to_numpy())
    return choices, predictions.assign(half_width=half)


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
        scaler, a = fit_and_scale(table, {"fit": train_rows}, fit="fit", columns=run.columns)
        parts.append((a["X_fit"], a["y_fit"]))
        scalers.append(scaler)
    steps = sorted({c["epochs"] for c in chosen})
    # Nothing is held out: no validation, only the weights at the chosen budgets.
    result = _train_splits(run.with_epochs(steps[-1]), seeds, parts, device, _kept(run, steps))
    frames = []
    for i, (choice, scaler) in enumerate(zip(chosen, scalers, strict=True)):
        weights = result.member_weights(run.with_epochs(choice["epochs"]).members)
        mine = weights[i * len(seeds) : (i + 1) * len(seeds)]
        ensemble = Ensemble(run.hidden, scaler, {seed_key(s): w for s, w in zip(seeds, mine, strict=True)})
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
    coverage and mean width of its conformal intervals (`calibrated`'s half-widths)."""
    rows = []
    for choice in chosen:
        p = predictions[predictions["split"] == choice["split"]]
        y = p["strength"].to_numpy()
        ens = regression_metrics(y, p["predicted"].to_numpy())
        single = [regression_metrics(y, p[seed_key(s)].to_numpy()) for s in seeds]
        lower, upper = conformal_interval(p["predicted"], p["half_width"].to_numpy())
        rows.append(
            {
                **{k: v for k, v in choice.items() if k != "interval"},
                "interval_scale": choice["interval"]["scale"],
                "interval_offset": choice["interval"]["offset"],
                **ens,
                **{f"single_{k}": float(np.mean([m[k] for m in single])) for k in ens},
                "coverage": interval_coverage(y, lower, upper),
                "width": float(np.mean(upper - lower)),
                "test_rows": len(p),
            }
        )
    return pd.DataFrame(rows)


def _se(values: pd.Series) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan


def summarize_benchmark(per_split: pd.DataFrame, predictions: pd.DataFrame, level: float) -> dict:
    """Mean ± standard error over splits, as papers on this protocol report; coverage over all
    test rows."""
    out = {"splits": len(per_split), "level": level}
    for prefix in ("", "single_"):
        for metric in ("rmse", "mse", "mae", "r2"):
            out[f"{prefix}{metric}_mean"] = float(per_split[f"{prefix}{metric}"].mean())
            out[f"{prefix}{metric}_se"] = _se(per_split[f"{prefix}{metric}"])
    out["coverage"] = interval_coverage(predictions["strength"], predictions["lower"], predictions["upper"])
    # How much coverage varies from split to split (103 rows each): the sd, the lowest, the highest.
    out["coverage_split_sd"] = float(per_split["coverage"].std(ddof=1)) if len(per_split) > 1 else 0.0
    out["coverage_split_min"] = float(per_split["coverage"].min())
    out["coverage_split_max"] = float(per_split["coverage"].max())
    out["width_mean"] = float((predictions["upper"] - predictions["lower"]).mean())
    out["test_rows"] = int(len(predictions))
    if "candidate" in per_split:
        chosen = per_split.groupby(["candidate", "epochs"]).size().rename("splits").reset_index()
        out["chosen"] = chosen.to_dict("records")
    return out


def paired_difference(network: pd.DataFrame, peer: pd.DataFrame) -> dict:
    """Network minus peer, test RMSE split by split: mean ± SE over the splits, and how many
    splits each has the lower RMSE on."""
    d = network["rmse"].to_numpy() - peer["rmse"].to_numpy()
    return {
        "rmse_difference_mean": float(d.mean()),
        "rmse_difference_se": _se(pd.Series(d)),
        "network_wins": int((d < 0).sum()),
        "peer_wins": int((d > 0).sum()),
    }


def side_by_side(network: pd.DataFrame, peer: pd.DataFrame, blended: pd.DataFrame) -> pd.DataFrame:
    """The network's per-split scores with the peer's (peer_*) and the blend's (blend_*) beside
    them, and the network's RMSE minus the peer's."""
    columns = ["inner_val_mse", "rmse", "mse", "mae", "r2", "coverage", "width"]
    theirs = peer[columns].add_prefix("peer_").reset_index(drop=True)
    theirs["peer_params"] = [" ".join(f"{k}={v:g}" for k, v in p.items()) for p in peer["params"]]
    theirs["peer_rounds_mean"] = [float(np.mean(r)) for r in peer["rounds"]]
    mixed = blended[["weight", *columns]].add_prefix("blend_").reset_index(drop=True)
    out = pd.concat([network.reset_index(drop=True), theirs, mixed], axis=1)
    return out.assign(rmse_difference=out["rmse"] - out["peer_rmse"])


def blend(
    chosen: list[dict],
    network_inner: dict[int, np.ndarray],
    peer_chosen: list[dict],
    y_val: np.ndarray,
    network: pd.DataFrame,
    peer: pd.DataFrame,
    weights: list[float],
) -> tuple[list[dict], pd.DataFrame, dict]:
    """Per split, weight * network + (1 - weight) * peer, the weight of `weights` whose blend of the
    two seed ensembles predicts the split's inner validation rows best (evaluation.blend_weight).
    `network_inner` maps a split to the network's inner predictions per seed; `peer_chosen`
    holds the peer's choices per split, with its own. Returns the blend's choices (weight, inner
    MSE), its test predictions (seed k blends the network's seed k with the peer's; the spread
    is over both parts) and its calibration: the inner residuals and spread per split."""
    choices, frames, calibration = [], [], {}
    for c, pc in zip(chosen, peer_chosen, strict=True):
        s = c["split"]
        ours, theirs = network_inner[s], np.asarray(pc["inner_val_predictions"])
        w, mse = blend_weight(ours.mean(axis=0), theirs.mean(axis=0), y_val[s], weights)
        calibration[s] = calibration_rows(y_val[s], [ours, theirs], w)
        choices.append({"split": s, "weight": w, "inner_val_mse": mse})
        n = network[network["split"] == s].sort_values("row").reset_index(drop=True)
        p = peer[peer["split"] == s].sort_values("row").reset_index(drop=True)
        if not n["row"].equals(p["row"]):
            raise ValueError(f"split {s}: the network and the peer scored other test rows")
        seeds = seed_columns(n)
        spread = seed_spread(n[seeds].to_numpy().T, p[seeds].to_numpy().T)
        frames.append(
            n.assign(**{col: w * n[col] + (1 - w) * p[col] for col in ["predicted", *seeds]}, spread=spread)
        )
    return choices, pd.concat(frames, ignore_index=True), calibration


def interval_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """One line per split and test row: the ensemble's prediction and its conformal interval."""
    out = predictions[["split", "row", "strength", "predicted"]].copy()
    out["lower"], out["upper"] = conformal_interval(out["predicted"], predictions["half_width"].to_numpy())
    return out.sort_values(["split", "row"]).reset_index(drop=True)


def comparison_table(summary: dict, published: pd.DataFrame) -> pd.DataFrame:
    """This project's results (measured here) beside the published ones, each with its protocol
    and source."""
    protocol = f"{summary['splits']} standard 90/10 splits"
    ours = [
        {
            "method": "This project: MLP seed ensemble, selected per split on inner validation rows",
            "rmse": summary["rmse_mean"],
            "error": summary["rmse_se"],
        }
    ]
    if "peer" in summary:
        ours.append(
            {
                "method": "LightGBM peer, 5 seeds, tuned per split on the same inner rows",
                "rmse": summary["peer"]["rmse_mean"],
                "error": summary["peer"]["rmse_se"],
            }
        )
    if "blend" in summary:
        ours.append(
            {
                "method": "Blend of the network and the peer, weighted by benchmark.peer.blend_weights",
                "rmse": summary["blend"]["rmse_mean"],
                "error": summary["blend"]["rmse_se"],
            }
        )
    ours = pd.DataFrame(ours).assign(
        error_kind="se", protocol=protocol, comparable="yes", source="results/benchmark/summary.json"
    )
    return pd.concat(
        [ours.assign(measured="here"), published.assign(measured="published")], ignore_index=True
    )


def comparison_markdown(table: pd.DataFrame, summary: dict) -> str:
    """The comparison as Markdown, what was measured here apart from what was published: ± is a
    standard error unless marked (sd)."""
    lines = ["# The standard benchmark: test RMSE (MPa) over the published splits", ""]
    header = ["method", "test RMSE", "protocol", "directly comparable", "source"]
    for measured, title in (("here", "Measured here"), ("published", "Published")):
        rows = []
        for r in table[table["measured"] == measured].itertuples():
            error = (
                "" if pd.isna(r.error) else f" ± {r.error:.2f}" + (" (sd)" if r.error_kind == "sd" else "")
            )
            rows.append([r.method, f"{r.rmse:.2f}{error}", r.protocol, r.comparable, r.source])
        lines += [f"## {title}", "", *markdown_table(header, rows, "lrlll"), ""]
    lines.append(
        f"± is the standard error over splits unless marked (sd). This project over {summary['splits']} "
        f"splits: mean single model {summary['single_rmse_mean']:.2f} ± {summary['single_rmse_se']:.2f}; "
        f"{summary['level']:.0%} split-conformal intervals covered {summary['coverage']:.1%} of "
        f"{summary['test_rows']} test rows with a mean width of {summary['width_mean']:.1f} MPa."
    )
    if "paired" in summary:
        p, peer = summary["paired"], summary["peer"]
        lines += [
            "",
            f"Network minus peer, split by split: {p['rmse_difference_mean']:+.2f} ± "
            f"{p['rmse_difference_se']:.2f} MPa RMSE (mean ± SE over {summary['splits']} splits); the "
            f"network has the lower RMSE on {p['network_wins']} splits, the peer on {p['peer_wins']}. "
            f"The peer's intervals covered {peer['coverage']:.1%} with a mean width of "
            f"{peer['width_mean']:.1f} MPa.",
        ]
    if "blend" in summary:
        b = summary["blend"]
        lines += [
            "",
            f"The blend's weight on the network, of benchmark.peer.blend_weights per split on its inner "
            f"rows: {b['weight_mean']:.2f} on average "
            f"(0: the peer alone, 1: the network alone); its intervals covered {b['coverage']:.1%} with a "
            f"mean width of {b['width_mean']:.1f} MPa.",
        ]
    return "\n".join([*lines, ""])
