"""Figure 20 and the feature-importance figure of the final model."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import pandas as pd

from concrete_study import plotting
from concrete_study.dataset import Dataset
from concrete_study.files import read_json
from concrete_study.logs import log_to


def main(inp, dataset, out) -> None:
    test = pd.read_csv(inp.test_predictions)
    fit = pd.read_csv(inp.fit_predictions)
    mse = read_json(inp.metrics)["test_mse"]
    plotting.predicted_vs_true(
        [
            ("train+val", fit[dataset.target].to_numpy(), fit["predicted"].to_numpy()),
            ("test", test[dataset.target].to_numpy(), test["predicted"].to_numpy()),
        ],
        out.predicted,
        f"Final model (seed ensemble): test MSE {mse:.2f} {dataset.mse_unit()}".rstrip(),
        dataset,
    )
    plotting.feature_importance(pd.read_csv(inp.importance), out.importance, dataset)


with log_to(snakemake.log[0]):
    main(snakemake.input, Dataset.from_params(snakemake.params.dataset), snakemake.output)
