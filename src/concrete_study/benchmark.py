"""The standard benchmark: 20 published 90/10 splits, each scored once on its test rows by the
protocol (protocol.py), and the scores, intervals and tables over the splits.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from concrete_study.dataset import Dataset
from concrete_study.evaluation import (
    Blend,
    Interval,
    conformal_interval,
    interval_coverage,
    regression_metrics,
    seed_spread,
)
from concrete_study.markdown import markdown_table
from concrete_study.protocol import retrain
from concrete_study.records import seed_key
from concrete_study.runs import Run
from concrete_study.splits import splits_subset
from concrete_study.summary import METHODS


def chosen_inner_seeds(candidates: dict[str, dict], choice: dict) -> np.ndarray:
    """The inner-validation predictions of a split's choice, per seed: (seeds, rows)."""
    return candidates[choice["candidate"]]["predictions"][choice["split"]]


def seed_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("seed_")]


def with_spread(predictions: pd.DataFrame) -> pd.DataFrame:
    """Test predictions with each row's seed spread (evaluation.seed_spread)."""
    return predictions.assign(spread=seed_spread(predictions[seed_columns(predictions)].to_numpy().T))


def calibrated(
    predictions: pd.DataFrame, chosen: list[dict], calibration: dict, level: float
) -> tuple[list[dict], pd.DataFrame]:
    """Per split, the split-conformal interval calibrated on its inner validation rows
    (`calibration` maps a split to their residuals and spread), and each test row's half-width
    from its own spread (the `spread` column)."""
    choices, half = [], pd.Series(np.nan, index=predictions.index)
    for choice in chosen:
        interval = Interval.calibrate(*calibration[choice["split"]], level)
        choices.append({**choice, "interval": interval.to_dict()})
        rows = predictions["split"] == choice["split"]
        half[rows] = interval.half_width(predictions.loc[rows, "spread"].to_numpy())
    return choices, predictions.assign(half_width=half)


def retrain_and_test(
    run: Run,
    seeds: list[int],
    table: pd.DataFrame,
    dataset: Dataset,
    splits: dict,
    chosen: list[dict],
    device: str,
) -> pd.DataFrame:
    """Retrain the candidate on all training rows of the splits that chose it, then predict their
    test rows once."""
    columns = ["split", "row", dataset.target, "predicted", *[seed_key(s) for s in seeds]]
    if not chosen:
        return pd.DataFrame(columns=columns)
    numbers = [c["split"] for c in chosen]
    ensembles = retrain(run, seeds, table, dataset, splits_subset(splits, numbers), device)
    frames = []
    for s, ensemble in zip(numbers, ensembles, strict=True):
        rows = splits["test"][s]
        test = table.iloc[rows]
        per_seed = ensemble.predict(test)  # the one look at this split's test rows
        frame = pd.DataFrame(
            {"split": s, "row": rows, dataset.target: test[dataset.target].to_numpy()}
        ).assign(predicted=per_seed.mean(axis=0), **{seed_key(k): per_seed[i] for i, k in enumerate(seeds)})
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[columns]


def per_split_scores(
    predictions: pd.DataFrame, chosen: list[dict], seeds: list[int], dataset: Dataset
) -> pd.DataFrame:
    """Each split's choice, the ensemble's and the mean single model's test metrics, and the
    coverage and mean width of its conformal intervals (`calibrated`'s half-widths)."""
    rows = []
    for choice in chosen:
        p = predictions[predictions["split"] == choice["split"]]
        y = p[dataset.target].to_numpy()
        ens = regression_metrics(y, p["predicted"].to_numpy())
        single = [regression_metrics(y, p[seed_key(s)].to_numpy()) for s in seeds]
        lower, upper = conformal_interval(p["predicted"], p["half_width"].to_numpy(), dataset.lower_bound())
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


def summarize_benchmark(
    per_split: pd.DataFrame, predictions: pd.DataFrame, level: float, target: str
) -> dict:
    """Mean ± standard error over splits, as papers on this protocol report; coverage over all
    test rows."""
    out = {"splits": len(per_split), "level": level}
    for prefix in ("", "single_"):
        for metric in ("rmse", "mse", "mae", "r2"):
            out[f"{prefix}{metric}_mean"] = float(per_split[f"{prefix}{metric}"].mean())
            out[f"{prefix}{metric}_se"] = _se(per_split[f"{prefix}{metric}"])
    out["coverage"] = interval_coverage(predictions[target], predictions["lower"], predictions["upper"])
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
    mixed = blended[columns].add_prefix("blend_").reset_index(drop=True)
    out = pd.concat([network.reset_index(drop=True), theirs, mixed], axis=1)
    return out.assign(rmse_difference=out["rmse"] - out["peer_rmse"])


def blend(
    network_inner: dict[int, np.ndarray],
    peer_chosen: list[dict],
    y_val: np.ndarray,
    network: pd.DataFrame,
    peer: pd.DataFrame,
) -> tuple[list[dict], pd.DataFrame, dict]:
    """Per split, the equal blend of the network and the peer (evaluation.Blend).
    `network_inner` maps a split to the network's inner predictions per seed; `peer_chosen`
    holds the peer's choices per split, with its own. Returns the blend's choices (its inner MSE),
    its test predictions (seed k blends the network's seed k with the peer's; the spread is over
    both parts) and its calibration: the inner residuals and spread per split."""
    two = Blend(parts=2)
    choices, frames, calibration = [], [], {}
    for pc in peer_chosen:
        s = pc["split"]
        parts = [network_inner[s], np.asarray(pc["inner_val_predictions"])]
        calibration[s] = two.calibration(y_val[s], parts)
        mse = float(np.mean(calibration[s][0] ** 2))
        choices.append({"split": s, "inner_val_mse": mse})
        n = network[network["split"] == s].sort_values("row").reset_index(drop=True)
        p = peer[peer["split"] == s].sort_values("row").reset_index(drop=True)
        if not n["row"].equals(p["row"]):
            raise ValueError(f"split {s}: the network and the peer scored other test rows")
        seeds = seed_columns(n)
        spread = seed_spread(n[seeds].to_numpy().T, p[seeds].to_numpy().T)
        frames.append(
            n.assign(**{c: two.combine([n[c], p[c]]) for c in ["predicted", *seeds]}, spread=spread)
        )
    return choices, pd.concat(frames, ignore_index=True), calibration


def interval_predictions(predictions: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """One line per split and test row: the ensemble's prediction and its conformal interval."""
    out = predictions[["split", "row", dataset.target, "predicted"]].copy()
    out["lower"], out["upper"] = conformal_interval(
        out["predicted"], predictions["half_width"].to_numpy(), dataset.lower_bound()
    )
    return out.sort_values(["split", "row"]).reset_index(drop=True)


def comparison_table(summary: dict, published: pd.DataFrame, source: str) -> pd.DataFrame:
    """This project's results (measured here, `source` the summary's path) beside the published
    ones, each with its protocol and source."""
    protocol = f"{summary['splits']} standard 90/10 splits"
    scores = {"network": summary, **{k: summary[k] for k in ("peer", "blend") if k in summary}}
    ours = [{"method": METHODS[k], "rmse": v["rmse_mean"], "error": v["rmse_se"]} for k, v in scores.items()]
    ours = pd.DataFrame(ours).assign(error_kind="se", protocol=protocol, comparable="yes", source=source)
    if published.empty:
        return ours.assign(measured="here")
    return pd.concat(
        [ours.assign(measured="here"), published.assign(measured="published")], ignore_index=True
    )


def comparison_markdown(table: pd.DataFrame, summary: dict, dataset: Dataset, kind: str) -> str:
    """The comparison as Markdown, what was measured here apart from what was published: ± is a
    standard error unless marked (sd). `kind` says which splits: "published" or "seeded random"."""
    lines = [f"# The standard benchmark: {dataset.in_unit('test RMSE')} over the {kind} splits", ""]
    header = ["method", "test RMSE", "protocol", "directly comparable", "source"]
    for measured, title in (("here", "Measured here"), ("published", "Published")):
        if measured == "published" and not (table["measured"] == measured).any():
            continue
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
        f"{summary['test_rows']} test rows with a mean width of "
        f"{dataset.amount(format(summary['width_mean'], '.1f'))}."
    )
    if "paired" in summary:
        p, peer = summary["paired"], summary["peer"]
        lines += [
            "",
            f"Network minus peer, split by split: {p['rmse_difference_mean']:+.2f} ± "
            f"{dataset.amount(format(p['rmse_difference_se'], '.2f'))} RMSE "
            f"(mean ± SE over {summary['splits']} splits); the "
            f"network has the lower RMSE on {p['network_wins']} splits, the peer on {p['peer_wins']}. "
            f"The peer's intervals covered {peer['coverage']:.1%} with a mean width of "
            f"{dataset.amount(format(peer['width_mean'], '.1f'))}.",
        ]
    if "blend" in summary:
        b = summary["blend"]
        lines += [
            "",
            f"The equal blend's intervals covered {b['coverage']:.1%} with a mean width of "
            f"{dataset.amount(format(b['width_mean'], '.1f'))}.",
        ]
    return "\n".join([*lines, ""])
