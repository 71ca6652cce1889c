"""Tables of the study: one row per run, mean and std over seeds, sorted by best_val_loss."""

from __future__ import annotations

import numpy as np
import pandas as pd

from concrete_study import model
from concrete_study.dataset import Dataset
from concrete_study.markdown import markdown_table
from concrete_study.model import analytic_parameter_count
from concrete_study.records import run_rows
from concrete_study.runs import Run, hidden_slug

METRICS = ["final_train_loss", "final_val_loss", "best_val_loss"]
# The columns an experiment's `columns` may add to its table: run keys, and the gap.
EXTRA_KEYS = ("weight_decay", "dropout")
GAP = "gap"


def experiment_table(
    runs: list[tuple[str, Run, pd.DataFrame]], dataset: Dataset, columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """One row per run (id, Run, its history: records.read_runs); losses are mean and std over
    the seeds that did not diverge. `columns` adds run keys (EXTRA_KEYS) after the study's, and
    'gap': the final validation MSE less the final training MSE, per seed."""
    rows = []
    for rid, run, history in runs:
        per_seed = pd.DataFrame(run_rows(history, run.epochs))
        per_seed[GAP] = per_seed["final_val_loss"] - per_seed["final_train_loss"]
        ok = per_seed[~per_seed["diverged"]]
        row = {
            "run": rid,
            "optimizer": run.optimizer,
            "scheduler": run.scheduler,
            "momentum": run.momentum,
            "hidden": hidden_slug(run.hidden),
            "lr": run.lr,
            "batch_size": run.batch_size,
            "epochs": run.epochs,
            **{key: getattr(run, key) for key in EXTRA_KEYS if key in columns},
        }
        for m in [*METRICS, *([GAP] if GAP in columns else [])]:
            row[f"{m}_mean"] = float(ok[m].mean()) if len(ok) else np.nan
            row[f"{m}_std"] = float(ok[m].std(ddof=1)) if len(ok) > 1 else np.nan
        row["parameters"] = model.parameter_count(model.network(run, len(dataset.columns(run.inputs))))
        row["seeds"] = len(per_seed)
        row["diverged"] = int(per_seed["diverged"].sum())
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["best_val_loss_mean", "run"], na_position="last").reset_index(drop=True)


def _fmt(value, digits: int = 3) -> str:
    if isinstance(value, float | np.floating):
        return "nan" if np.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def table_markdown(table: pd.DataFrame, title: str, dataset: Dataset) -> str:
    """The table as Markdown: losses as mean ± std (MSE in the target's squared unit), with the
    extra columns the table has (experiment_table's `columns`)."""
    keys = [key for key in EXTRA_KEYS if key in table]
    metrics = [*METRICS, *([GAP] if f"{GAP}_mean" in table else [])]
    head = [
        "optimizer", "scheduler", "momentum", "hidden", "lr", "batch", "epochs", *keys,
        *metrics, "parameters", "diverged",
    ]  # fmt: skip
    rows = [
        [
            r["optimizer"], r["scheduler"], f"{r['momentum']:.2f}", r["hidden"], f"{r['lr']:.1e}",
            str(r["batch_size"]), str(r["epochs"]), *[f"{r[key]:g}" for key in keys],
            *[f"{_fmt(r[m + '_mean'])} ± {_fmt(r[m + '_std'])}" for m in metrics],
            f"{r['parameters']:,}", f"{r['diverged']}/{r['seeds']}",
        ]
        for _, r in table.iterrows()
    ]  # fmt: skip
    gap = " The gap is the final validation loss less the final training loss." if GAP in metrics else ""
    lines = [
        f"# {title}",
        "",
        *markdown_table(head, rows),
        "",
        f"Losses are MSE{' in ' + dataset.mse_unit() if dataset.mse_unit() else ''}, mean ± std over "
        f"the seeds that did not diverge.{gap}",
        "",
    ]
    return "\n".join(lines)


def time_table(table: pd.DataFrame, times: dict[str, pd.DataFrame | None]) -> pd.DataFrame:
    """The time per model of each run of an experiment table, in its order: the job's wall time up
    to the run's last epoch (its time log, records.write_times) divided by the job's seeds, the
    cost of one model when the seeds train side by side. A run whose job did not train here (its
    results came with `dvc pull`) has no time log and no time."""
    seconds = [
        None
        if times.get(r.run) is None
        else round(float(times[r.run]["time_sec"].iloc[r.epochs - 1]) / r.seeds, 2)
        for r in table.itertuples()
    ]
    return pd.DataFrame({"run": table["run"], "train_time_sec": seconds})


def parameter_table(hidden_list: list[list[int]], n_inputs: int) -> pd.DataFrame:
    """Analytic sum((in+1)*out) against the parameters of the built, initialised network, per
    architecture."""
    rows = []
    for hidden in hidden_list:
        analytic = analytic_parameter_count(n_inputs, hidden)
        net = model.network(Run(hidden=hidden), n_inputs)
        counted = sum(p.numel() for p in model.initial(net, seed=0))
        rows.append(
            {
                "hidden": hidden_slug(hidden),
                "layers": len(hidden) + 1,
                "analytic": analytic,
                "counted": counted,
                "match": analytic == counted,
            }
        )
    return pd.DataFrame(rows)


def parameter_markdown(table: pd.DataFrame) -> str:
    rows = [[r.hidden, r.layers, f"{r.analytic:,}", f"{r.counted:,}"] for r in table.itertuples()]
    header = ["hidden", "linear layers", "analytic sum((in+1)*out)", "counted"]
    return "\n".join(["# Parameter count per architecture", "", *markdown_table(header, rows, "lrrr")]) + "\n"
