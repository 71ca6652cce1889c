"""The benchmark figure: test RMSE per split, with the published means drawn across."""

import pandas as pd

from concrete_study import plotting
from concrete_study.logs import log_to

with log_to(snakemake.log[0]):
    plotting.benchmark_rmse(
        pd.read_csv(snakemake.input.per_split), pd.read_csv(snakemake.input.table), snakemake.output.png
    )
