"""Figures 1-3: cement histogram, box plots of the inputs, cement vs strength density."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study import plotting
from concrete_study.data import read_clean
from concrete_study.logs import log_to


def main(clean: str, out) -> None:
    table = read_clean(clean)
    plotting.cement_histogram(table, out.hist)
    plotting.input_boxplots(table, out.box)
    plotting.cement_strength_hist2d(table, out.hist2d)


with log_to(snakemake.log[0]):
    main(snakemake.input.clean, snakemake.output)
