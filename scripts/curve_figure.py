"""Figures 5, 7 and 8: learning curves of chosen runs against the mean-predictor baseline."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study import plotting
from concrete_study.dataset import Dataset
from concrete_study.files import read_json
from concrete_study.logs import log_to
from concrete_study.runs import Run, hidden_slug, read_runs


def label(run: Run, keys: list[str]) -> str:
    """The legend entry of a run: the hyperparameters that tell the figure's curves apart."""
    parts = []
    for key in keys:
        if key == "hidden":
            parts.append(f"[{hidden_slug(run.hidden)}]")
        elif key == "momentum":
            parts += [f"μ={run.momentum:g}"] if run.optimizer == "sgd_momentum" else []
        elif key == "lr":
            parts.append(f"lr={run.lr:g}")
        else:
            parts.append(str(getattr(run, key)))
    return " ".join(parts)


def main(runs, baselines, label_keys, drop_sgd, title, dataset, out) -> None:
    baseline = read_json(baselines)["mean_mse_val"]
    runs = read_runs(runs)
    curves = [(label(run, label_keys), history) for _, run, history in runs]
    if not drop_sgd:
        plotting.learning_curves(curves, baseline, out.png, title, dataset)
    else:
        plain = [c for c, (_, run, _) in zip(curves, runs, strict=True) if run.optimizer != "sgd"]
        plotting.learning_curves(plain, baseline, out.png, f"{title} without plain SGD", dataset)
        plotting.learning_curves(curves, baseline, out.with_sgd, f"{title} including plain SGD", dataset)


with log_to(snakemake.log[0]):
    main(
        snakemake.params.runs,
        snakemake.input.baselines,
        snakemake.params.label_keys,
        snakemake.params.drop_sgd,
        snakemake.params.title,
        Dataset.from_params(snakemake.params.dataset),
        snakemake.output,
    )
