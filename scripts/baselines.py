"""Baselines: MSE of the mean predictor and of ordinary least squares on val and test."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import numpy as np

from concrete_study.data import baselines
from concrete_study.files import write_json
from concrete_study.logs import log_to


def main(arrays: str, out: str) -> None:
    with np.load(arrays) as npz:
        result = baselines(dict(npz))
    write_json(out, result)
    print({k: v for k, v in result.items() if "mse" in k})


with log_to(snakemake.log[0]):
    main(snakemake.input.arrays, snakemake.output.json)
