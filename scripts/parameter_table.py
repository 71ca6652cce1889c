"""Parameter counts: analytic sum((in+1)*out) against the built model, per architecture."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study.files import write_csv, write_text
from concrete_study.logs import log_to
from concrete_study.tables import parameter_markdown, parameter_table


def main(hidden_list, n_inputs, csv_out, md_out) -> None:
    table = parameter_table(hidden_list, n_inputs)
    if not table["match"].all():
        raise ValueError(f"parameter counts disagree: {table[~table['match']].to_dict('records')}")
    write_csv(csv_out, table)
    write_text(md_out, parameter_markdown(table))


with log_to(snakemake.log[0]):
    main(snakemake.params.hidden, snakemake.params.inputs, snakemake.output.csv, snakemake.output.md)
