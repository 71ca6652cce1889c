"""The LightGBM peer on every benchmark split: tuned on its inner rows, retrained, tested once."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import numpy as np

from concrete_study.data import read_clean
from concrete_study.dataset import Dataset
from concrete_study.files import write_csv, write_json
from concrete_study.logs import log_to, measured
from concrete_study.peer import peer_split


def main(clean, dataset, splits_file, peer, seeds, predictions, choices) -> None:
    table = read_clean(clean)
    with np.load(splits_file) as npz:
        splits = dict(npz)
    for split, (predictions_out, choice_out) in enumerate(zip(predictions, choices, strict=True)):
        choice, frame = peer_split(peer, seeds, table, dataset, splits, split)
        write_json(choice_out, choice)
        write_csv(predictions_out, frame)
        print(choice)


with log_to(snakemake.log.messages), measured(snakemake.log.benchmark):
    main(
        snakemake.input.clean,
        Dataset.from_params(snakemake.params.dataset),
        snakemake.input.splits,
        snakemake.params.peer,
        snakemake.params.seeds,
        snakemake.output.predictions,
        snakemake.output.choices,
    )
