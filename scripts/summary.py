"""The study's result on one page (summary.md; summary.rst, the report's first page) and its
headline numbers (summary.json, what `dvc metrics show` prints)."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study.dataset import Dataset
from concrete_study.files import read_json, write_json, write_text
from concrete_study.logs import log_to
from concrete_study.summary import headline, read_published, summary_page


def main(final_file, benchmark_file, published_files, dataset, reference, splits, out) -> None:
    final, benchmark = read_json(final_file), read_json(benchmark_file)
    published = read_published(published_files)
    write_json(out.json, headline(final, benchmark))
    for kind in ("md", "rst"):
        write_text(out[kind], summary_page(final, benchmark, published, kind, dataset, reference, splits))


with log_to(snakemake.log[0]):
    main(
        snakemake.input.final,
        snakemake.input.benchmark,
        snakemake.input.published,
        Dataset.from_params(snakemake.params.dataset),
        snakemake.params.reference,
        snakemake.params.splits,
        snakemake.output,
    )
