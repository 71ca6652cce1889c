"""The benchmark's splits, checked against the dataset, each with its seeded inner split."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import os

import numpy as np

from concrete_study.data import read_clean
from concrete_study.files import atomic_path
from concrete_study.logs import log_to
from concrete_study.splits import inner_split, read_splits


def main(clean: str, directory: str, n_splits: int, val_fraction: float, seed: int, out: str) -> None:
    splits = read_splits(directory, n_splits, len(read_clean(clean)))
    # Each split's inner split has its own seed, so no two splits share an inner partition.
    inner = [inner_split(s["train"], val_fraction, seed + i) for i, s in enumerate(splits)]
    arrays = {
        "train": np.stack([s["train"] for s in splits]),
        "test": np.stack([s["test"] for s in splits]),
        "inner_train": np.stack([p["train"] for p in inner]),
        "inner_val": np.stack([p["val"] for p in inner]),
    }
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    print({k: v.shape for k, v in arrays.items()})


with log_to(snakemake.log[0]):
    main(
        snakemake.input.clean,
        os.path.dirname(snakemake.input.files[0]),
        snakemake.params.splits,
        snakemake.params.inner["val"],
        snakemake.params.inner["seed"],
        snakemake.output.splits,
    )
