"""The study's result on one page (results/summary.md; summary.rst, the report's first page) and
its headline numbers (results/summary.json, what `dvc metrics show` prints)."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import pandas as pd

from concrete_study.files import read_json, write_json, write_text
from concrete_study.logs import log_to
from concrete_study.summary import headline, summary_page


def main(final_file, benchmark_file, published_file, out) -> None:
    final, benchmark = read_json(final_file), read_json(benchmark_file)
    published = pd.read_csv(published_file)
    write_json(out.json, headline(final, benchmark))
    write_text(out.md, summary_page(final, benchmark, published, "md"))
    write_text(out.rst, summary_page(final, benchmark, published, "rst"))


with log_to(snakemake.log[0]):
    main(snakemake.input.final, snakemake.input.benchmark, snakemake.input.published, snakemake.output)
