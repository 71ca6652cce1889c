"""One experiment's table: a row per run, mean and std over seeds, as CSV and Markdown."""

from concrete_study.files import write_csv, write_text
from concrete_study.logs import log_to
from concrete_study.runs import read_runs
from concrete_study.tables import experiment_table, table_markdown


def main(runs, title, csv_out, md_out) -> None:
    table = experiment_table(read_runs(runs))
    write_csv(csv_out, table)
    write_text(md_out, table_markdown(table, title))


with log_to(snakemake.log[0]):
    main(snakemake.params.runs, snakemake.params.title, snakemake.output.csv, snakemake.output.md)
