"""Split: seeded train/val/test row indices, one index file per part."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study.data import read_clean, split_indices
from concrete_study.files import write_text
from concrete_study.logs import log_to


def main(clean: str, out: dict[str, str], fractions: dict[str, float], seed: int) -> None:
    parts = split_indices(len(read_clean(clean)), fractions, seed)
    for part, rows in parts.items():
        write_text(out[part], "".join(f"{r}\n" for r in rows))
        print(f"{part}: {len(rows)} rows")


with log_to(snakemake.log[0]):
    main(
        snakemake.input.clean,
        dict(snakemake.output.items()),
        snakemake.params.fractions,
        snakemake.params.seed,
    )
