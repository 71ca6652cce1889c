"""Scale (Task 1.3): a standardiser of the raw inputs fitted on the training rows only, applied to
every part. Each training job scales the inputs its run reads the same way (data.fit_and_scale)."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import numpy as np

from concrete_study.data import fit_and_scale, read_clean, read_study_split
from concrete_study.dataset import Dataset
from concrete_study.files import atomic_path
from concrete_study.logs import log_to


def main(clean: str, split_files: dict[str, str], dataset: Dataset, scaler_out: str, arrays_out: str) -> None:
    scaler, arrays = fit_and_scale(read_clean(clean), read_study_split(split_files), "train", dataset)
    scaler.save(scaler_out)
    with atomic_path(arrays_out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


with log_to(snakemake.log[0]):
    main(
        snakemake.input.clean,
        {p: snakemake.input[p] for p in ("train", "val", "test")},
        Dataset.from_params(snakemake.params.dataset),
        snakemake.output.scaler,
        snakemake.output.arrays,
    )
