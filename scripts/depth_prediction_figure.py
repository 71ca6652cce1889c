"""Figures 18-19: predicted vs true target on the validation set for a deep network."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import pandas as pd

from concrete_study import plotting
from concrete_study.dataset import Dataset
from concrete_study.logs import log_to
from concrete_study.records import seed_key


def main(predictions: str, seed: int, png: str, title: str, dataset: Dataset) -> None:
    p = pd.read_csv(predictions)
    column = seed_key(seed)
    plotting.predicted_vs_true([(column, p["true"].to_numpy(), p[column].to_numpy())], png, title, dataset)


with log_to(snakemake.log[0]):
    main(
        snakemake.input.predictions,
        snakemake.params.seed,
        snakemake.output.png,
        snakemake.params.title,
        Dataset.from_params(snakemake.params.dataset),
    )
