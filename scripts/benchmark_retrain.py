"""One benchmark candidate retrained on all training rows of the splits of one group that chose
it, tested once."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import numpy as np
import torch

from concrete_study.benchmark import retrain_and_test
from concrete_study.data import read_clean
from concrete_study.dataset import Dataset
from concrete_study.files import read_json, write_csv
from concrete_study.logs import log_to, measured
from concrete_study.runs import Run


def main(clean, dataset, splits_file, selection, name, numbers, run, seeds, device, threads, out) -> None:
    torch.set_num_threads(threads)
    chosen = [c for c in read_json(selection)["splits"] if c["candidate"] == name and c["split"] in numbers]
    with np.load(splits_file) as npz:
        splits = dict(npz)
    predictions = retrain_and_test(run, seeds, read_clean(clean), dataset, splits, chosen, device)
    write_csv(out, predictions)
    print(f"{name}: chosen by splits {[c['split'] for c in chosen]} of {numbers}")


with log_to(snakemake.log.messages), measured(snakemake.log.benchmark):
    main(
        snakemake.input.clean,
        Dataset.from_params(snakemake.params.dataset),
        snakemake.input.splits,
        snakemake.input.selection,
        snakemake.wildcards.candidate,
        snakemake.params.splits,
        Run(**snakemake.params.run),
        snakemake.params.seeds,
        snakemake.params.device,
        snakemake.threads,
        snakemake.output.predictions,
    )
