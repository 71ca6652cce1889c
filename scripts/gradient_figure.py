"""Figures 14-17: mean absolute gradient per layer in the last epoch."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import pandas as pd

from concrete_study import plotting
from concrete_study.logs import log_to

with log_to(snakemake.log[0]):
    plotting.gradient_bars(
        pd.read_csv(snakemake.input.gradients),
        snakemake.output.png,
        snakemake.params.title,
        log=snakemake.params.log_scale,
    )
