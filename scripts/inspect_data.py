"""Inspect: rows, duplicates, per-column ranges and target statistics as JSON and Markdown."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study.data import read_clean, summarize_data, summary_markdown
from concrete_study.dataset import Dataset
from concrete_study.files import write_json, write_text
from concrete_study.logs import log_to


def main(clean: str, dataset: Dataset, summary_json: str, summary_md: str) -> None:
    summary = summarize_data(read_clean(clean), dataset)
    write_json(summary_json, summary)
    write_text(summary_md, summary_markdown(summary))


with log_to(snakemake.log[0]):
    main(
        snakemake.input.clean,
        Dataset.from_params(snakemake.params.dataset),
        snakemake.output.json,
        snakemake.output.md,
    )
