"""Per split, the candidate and epochs chosen on inner-validation rows."""

from concrete_study.benchmark import read_inner, select
from concrete_study.files import write_json
from concrete_study.logs import log_to


def main(inner_files, names, out) -> None:
    candidates = read_inner(inner_files, names)
    chosen = select(candidates, candidates[names[0]]["y_val"])
    write_json(out, {"splits": chosen})
    for c in chosen:
        print(c)


with log_to(snakemake.log[0]):
    main(snakemake.input.inner, snakemake.params.names, snakemake.output.selection)
