"""The benchmark's splits (published ones, checked against the table, or seeded random ones), each
with its seeded inner split."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import os

import numpy as np

from concrete_study.data import read_clean
from concrete_study.files import atomic_path
from concrete_study.logs import log_to
from concrete_study.splits import inner_split, random_splits, read_splits


def main(
    clean: str,
    directory: str | None,
    n_splits: int,
    split_seed: int,
    val_fraction: float,
    seed: int,
    out: str,
) -> None:
    n_rows = len(read_clean(clean))
    if directory:
        splits = read_splits(directory, n_splits, n_rows)
    else:
        splits = random_splits(n_rows, n_splits, split_seed)
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
        os.path.dirname(snakemake.input.files[0]) if snakemake.input.files else None,
        snakemake.params.splits,
        snakemake.params.seed,
        snakemake.params.inner["val"],
        snakemake.params.inner["seed"],
        snakemake.output.splits,
    )
