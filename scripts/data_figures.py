"""Figures 1-3: a histogram of one input, box plots of all inputs, that input against the target."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study import plotting
from concrete_study.data import read_clean
from concrete_study.dataset import Dataset
from concrete_study.logs import log_to


def main(clean: str, dataset: Dataset, out) -> None:
    table = read_clean(clean)
    plotting.input_histogram(table, dataset, out.hist)
    plotting.input_boxplots(table, dataset, out.box)
    plotting.input_target_hist2d(table, dataset, out.hist2d)


with log_to(snakemake.log[0]):
    main(snakemake.input.clean, Dataset.from_params(snakemake.params.dataset), snakemake.output)
