"""The first layer's mean absolute gradient against depth: vanishing gradients at a glance."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import pandas as pd

from concrete_study import plotting
from concrete_study.logs import log_to


def main(paths, png) -> None:
    rows = []
    for path in paths:
        g = pd.read_csv(path)
        first = g[g["layer_index"] == 0].assign(depth=int(g["layer_index"].max()))
        rows.append(first)
    plotting.first_layer_gradient_vs_depth(pd.concat(rows), png)


with log_to(snakemake.log[0]):
    main(snakemake.input.gradients, snakemake.output.png)
