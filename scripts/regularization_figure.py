"""Learning curves with and without regularization, a panel per architecture (unregularized, and
the best run with weight decay alone and with dropout), and the caption's answer: does
regularization let the largest architecture win, and by how much."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from concrete_study import plotting
from concrete_study.dataset import Dataset
from concrete_study.files import read_json, write_text
from concrete_study.logs import log_to
from concrete_study.regularization import architectures, setting, verdict
from concrete_study.runs import read_runs
from concrete_study.tables import experiment_table


def main(runs, baselines, dataset, out) -> None:
    runs = read_runs(runs)
    table = experiment_table(runs, dataset, ("weight_decay", "dropout", "gap"))
    found = architectures(table, {rid: run for rid, run, _ in runs})
    histories = {rid: history for rid, _, history in runs}
    panels = [
        (a.name, [("no regularization", a.plain), *((setting(row), row) for row in a.kinds)]) for a in found
    ]
    panels = [(name, [(label, histories[row["run"]]) for label, row in rows]) for name, rows in panels]
    plotting.regularization_curves(panels, read_json(baselines)["mean_mse_val"], out.png, dataset)
    write_text(out.verdict, verdict(found, dataset) + "\n")


with log_to(snakemake.log[0]):
    main(
        snakemake.params.runs,
        snakemake.input.baselines,
        Dataset.from_params(snakemake.params.dataset),
        snakemake.output,
    )
