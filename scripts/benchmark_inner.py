"""One benchmark candidate on some splits' inner training rows: inner-validation predictions."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import numpy as np
import torch

from concrete_study.data import read_clean
from concrete_study.dataset import Dataset
from concrete_study.logs import log_to, measured
from concrete_study.protocol import inner_predictions, write_inner
from concrete_study.runs import Run
from concrete_study.splits import splits_subset


def main(clean, dataset, splits_file, numbers, run, seeds, device, threads, out) -> None:
    torch.set_num_threads(threads)
    table = read_clean(clean)
    with np.load(splits_file) as npz:
        splits = splits_subset(dict(npz), numbers)
    inner = inner_predictions(run, seeds, table, dataset, splits, device)
    write_inner(out, numbers, inner)
    print(f"{run.id}: {len(seeds)} seeds x splits {numbers}")


with log_to(snakemake.log.messages), measured(snakemake.log.benchmark):
    main(
        snakemake.input.clean,
        Dataset.from_params(snakemake.params.dataset),
        snakemake.input.splits,
        snakemake.params.splits,
        Run(**snakemake.params.run),
        snakemake.params.seeds,
        snakemake.params.device,
        snakemake.threads,
        snakemake.output.inner,
    )
