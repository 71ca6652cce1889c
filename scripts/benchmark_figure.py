"""The benchmark figure: test RMSE per split, with the published means drawn across."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import pandas as pd

from concrete_study import plotting
from concrete_study.dataset import Dataset
from concrete_study.logs import log_to

with log_to(snakemake.log[0]):
    plotting.benchmark_rmse(
        pd.read_csv(snakemake.input.per_split),
        pd.read_csv(snakemake.input.table),
        snakemake.output.png,
        Dataset.from_params(snakemake.params.dataset),
        snakemake.params.splits,
    )
