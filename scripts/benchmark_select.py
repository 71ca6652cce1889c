"""Per split, the candidate and epochs chosen on inner-validation rows."""

import numpy as np

from concrete_study.benchmark import select
from concrete_study.files import write_json
from concrete_study.logs import log_to


def main(inner_files, names, out) -> None:
    candidates = {}
    for name, path in zip(names, inner_files, strict=True):
        with np.load(path) as npz:
            candidates[name] = dict(npz)
    chosen = select(candidates, candidates[names[0]]["y_val"])
    write_json(out, {"splits": chosen})
    for c in chosen:
        print(c)


with log_to(snakemake.log[0]):
    main(snakemake.input.inner, snakemake.params.names, snakemake.output.selection)
