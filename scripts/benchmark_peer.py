"""The LightGBM peer on one benchmark split: tuned on its inner rows, retrained, tested once."""

import numpy as np

from concrete_study.data import read_clean
from concrete_study.files import write_csv, write_json
from concrete_study.logs import log_to
from concrete_study.peer import peer_split


def main(clean, splits_file, split, peer, seeds, out) -> None:
    with np.load(splits_file) as npz:
        splits = dict(npz)
    choice, predictions = peer_split(peer, seeds, read_clean(clean), splits, split)
    write_json(out.choice, choice)
    write_csv(out.predictions, predictions)
    print(choice)


with log_to(snakemake.log[0]):
    main(
        snakemake.input.clean,
        snakemake.input.splits,
        int(snakemake.wildcards.split),
        snakemake.params.peer,
        snakemake.params.seeds,
        snakemake.output,
    )
