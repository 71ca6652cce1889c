"""One experiment's table: a row per run, mean and std over seeds, as CSV and Markdown."""

from pathlib import Path

from concrete_study.io import read_json, write_csv, write_text
from concrete_study.logs import log_to
from concrete_study.tables import experiment_table, read_histories, table_markdown


def main(histories, metrics, runs, job_of, title, csv_out, md_out) -> None:
    parameters = {Path(path).parent.name: read_json(path)["parameters"] for path in metrics}
    table = experiment_table(runs, job_of, read_histories(histories), parameters)
    write_csv(csv_out, table)
    write_text(md_out, table_markdown(table, title))


with log_to(snakemake.log[0]):
    main(
        snakemake.input.histories,
        snakemake.input.metrics,
        snakemake.params.runs,
        snakemake.params.job_of,
        snakemake.params.title,
        snakemake.output.csv,
        snakemake.output.md,
    )
