"""Figures 5, 7 and 8: learning curves of chosen runs against the mean-predictor baseline."""

import pandas as pd

from concrete_study import plotting
from concrete_study.io import read_json
from concrete_study.logs import log_to
from concrete_study.runs import hidden_slug


def label(run: dict, keys: list[str]) -> str:
    parts = []
    for key in keys:
        if key == "hidden":
            parts.append(f"[{hidden_slug(run['hidden'])}]")
        elif key == "momentum" and "momentum" in run:
            parts.append(f"μ={run['momentum']:g}")
        elif key == "lr":
            parts.append(f"lr={run['lr']:g}")
        elif key in run and key != "momentum":
            parts.append(str(run[key]))
    return " ".join(parts)


def main(histories, baselines, runs, label_keys, drop_sgd, title, out) -> None:
    baseline = read_json(baselines)["mean_mse_val"]
    curves = [
        (label(run, label_keys), pd.read_csv(path), run["epochs"])
        for run, path in zip(runs.values(), histories, strict=True)
    ]
    if not drop_sgd:
        plotting.learning_curves(curves, baseline, out.png, title)
    else:
        plain = [c for c, run in zip(curves, runs.values(), strict=True) if run["optimizer"] != "sgd"]
        plotting.learning_curves(plain, baseline, out.png, f"{title} without plain SGD")
        plotting.learning_curves(curves, baseline, out.with_sgd, f"{title} including plain SGD")


with log_to(snakemake.log[0]):
    main(
        snakemake.input.histories,
        snakemake.input.baselines,
        snakemake.params.runs,
        snakemake.params.label_keys,
        snakemake.params.drop_sgd,
        snakemake.params.title,
        snakemake.output,
    )
