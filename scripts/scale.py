"""Scale: a standardiser fitted on the training rows only, applied to every part."""

import numpy as np

from concrete_study.data import FEATURES, Standardiser, read_clean, read_split, scaled_arrays
from concrete_study.files import atomic_path
from concrete_study.logs import log_to


def main(clean: str, split_files: dict[str, str], scaler_out: str, arrays_out: str) -> None:
    table = read_clean(clean)
    split = read_split(split_files)
    scaler = Standardiser.fit(table.iloc[split["train"]][FEATURES])
    scaler.save(scaler_out)
    with atomic_path(arrays_out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **scaled_arrays(table, split, scaler))


with log_to(snakemake.log[0]):
    main(
        snakemake.input.clean,
        {p: snakemake.input[p] for p in ("train", "val", "test")},
        snakemake.output.scaler,
        snakemake.output.arrays,
    )
