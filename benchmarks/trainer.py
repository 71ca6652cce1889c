"""Trainer benchmark: the project's engine against a reference loop written as the original did.

Reference: nn.Sequential, DataLoader(TensorDataset, shuffle=True), one seed at a time.
Engine: every seed stacked in one process. Same data, hyperparameters and thread count.
Prints seconds per model for each, their ratio, and the accuracy of both.

    .venv/bin/python benchmarks/trainer.py [--epochs 300] [--seeds 5] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from concrete_study.data import FEATURES, Standardiser, read_raw, scaled_arrays, split_indices
from concrete_study.engine import train
from concrete_study.model import initial_mlp
from concrete_study.runs import Run

RAW = Path(__file__).resolve().parents[1] / "data" / "Concrete_Data.xls"


def reference(run, seed, a, device) -> tuple[float, float]:
    """One seed, trained the way the original study did. Returns (seconds, best val MSE)."""
    start = time.perf_counter()
    model = initial_mlp(len(FEATURES), run.hidden, seed).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=run.lr)
    loader = DataLoader(
        TensorDataset(torch.tensor(a["X_train"]), torch.tensor(a["y_train"]).unsqueeze(1)),
        batch_size=run.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    xv = torch.tensor(a["X_val"], device=device)
    yv = torch.tensor(a["y_val"], device=device).unsqueeze(1)
    loss_fn = nn.MSELoss()
    best = float("inf")
    for _ in range(run.epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            best = min(best, float(loss_fn(model(xv), yv)))
    return time.perf_counter() - start, best


def compare(name, run, seeds, a, device) -> None:
    torch.set_flush_denormal(False)  # the reference runs as PyTorch does by default
    ref = [reference(run, s, a, device) for s in seeds]
    ref_time = sum(t for t, _ in ref) / len(seeds)
    ref_best = np.array([b for _, b in ref])
    start = time.perf_counter()
    result = train(run, seeds, a["X_train"], a["y_train"], a["X_val"], a["y_val"], device=device)
    eng_time = (time.perf_counter() - start) / len(seeds)
    eng_best = np.nanmin(result.val_mse, axis=0)
    print(f"\n{name}: {run.epochs} epochs, {len(seeds)} seeds, device {result.device}")
    for label, t, best in (("reference", ref_time, ref_best), ("engine", eng_time, eng_best)):
        print(f"  {label:10} {t:8.3f} s/model   best val MSE {best.mean():7.2f} ± {best.std(ddof=1):.2f}")
    print(f"  speed-up   {ref_time / eng_time:8.2f} x")
    spread = (ref_best.min(), ref_best.max())
    ok = spread[0] <= eng_best.mean() <= spread[1] or abs(eng_best.mean() - ref_best.mean()) <= ref_best.std(
        ddof=1
    )
    print(f"  accuracy   engine mean {'within' if ok else 'OUTSIDE'} the reference's seed spread")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--deep-epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = read_raw(RAW)
    split = split_indices(len(table), {"train": 0.7, "val": 0.15, "test": 0.15}, 42)
    a = scaled_arrays(table, split, Standardiser.fit(table.iloc[split["train"]][FEATURES]))
    seeds = list(range(args.seeds))
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    compare(
        "[128, 64] Adam lr 1e-2 batch 64",
        Run(epochs=args.epochs),
        seeds,
        a,
        args.device,
    )
    deep = Run(hidden=[32] * 128, epochs=args.deep_epochs)
    compare("128 x 32 (deep) Adam lr 1e-2 batch 64", deep, seeds, a, args.device)


if __name__ == "__main__":
    main()
