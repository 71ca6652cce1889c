"""Figures 18-19: predicted vs true strength on the validation set for a deep network."""

import pandas as pd

from concrete_study import plotting
from concrete_study.logs import log_to


def main(predictions: str, png: str, title: str) -> None:
    p = pd.read_csv(predictions)
    seed = [c for c in p.columns if c.startswith("seed_")][0]
    plotting.predicted_vs_true([(f"{seed}", p["true"].to_numpy(), p[seed].to_numpy())], png, title)


with log_to(snakemake.log[0]):
    main(snakemake.input.predictions, snakemake.output.png, snakemake.params.title)
