"""Per split, the candidate chosen on inner-validation rows."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study.files import write_json
from concrete_study.logs import log_to
from concrete_study.protocol import read_inner, select
from concrete_study.runs import Run


def main(inner_files, runs, out) -> None:
    chosen = select(read_inner(inner_files, list(runs)), runs)
    write_json(out, {"splits": chosen})
    for c in chosen:
        print(c)


with log_to(snakemake.log[0]):
    main(
        snakemake.input.inner,
        {name: Run(**params) for name, params in snakemake.params.candidates.items()},
        snakemake.output.selection,
    )
