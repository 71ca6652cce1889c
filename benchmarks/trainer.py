"""Trainer benchmark: the project's engine against a reference loop written as the original did.

Reference: nn.Sequential, DataLoader(TensorDataset, shuffle=True), one seed at a time.
Engine: every seed stacked in one process. Same data, hyperparameters and thread count.
Each part runs in a fresh process: the reference unpinned (as PyTorch runs by default), the engine
with the pin (numerics.py) and without it, in turn. Prints seconds per model, the speed-up, the
accuracy of both, and what the pin costs the engine.

    .venv/bin/python benchmarks/trainer.py [--epochs 300] [--seeds 5] [--threads 1] [--device cpu]
"""

from __future__ import annotations

# First: importing the library pins the numerics before numpy and torch compute (numerics.py).
import concrete_study  # noqa: F401

# isort: split
import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from concrete_study.data import fit_and_scale, split_indices
from concrete_study.dataset import read_table
from concrete_study.engine import train
from concrete_study.model import layer_sizes
from concrete_study.numerics import UNPINNED
from concrete_study.runs import Run

ROOT = Path(__file__).resolve().parents[1]


def reference(run, seed, a, device) -> tuple[float, float]:
    """One seed, trained the way the original study did. Returns (seconds, best val MSE)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    linears = [nn.Linear(i, o) for i, o in layer_sizes(a["X_train"].shape[1], run.hidden)]
    model = nn.Sequential(*(m for lin in linears for m in (lin, nn.ReLU())))[:-1].to(device)
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


def engine(run, seeds, a, device) -> tuple[float, np.ndarray]:
    """The project's engine, every seed stacked. Returns (seconds per model, best val MSE)."""
    start = time.perf_counter()
    result = train(run, seeds, a["X_train"], a["y_train"], a["X_val"], a["y_val"], device=device)
    return (time.perf_counter() - start) / len(seeds), np.nanmin(result.val_mse, axis=0)


def in_fresh_process(part: str, config: str, numerics: dict[str, str]) -> tuple[float, np.ndarray]:
    """One part timed in a process of its own: MKL and OpenBLAS read their settings once per
    process, so pinned and unpinned runs each need one, and each starts equally cold."""
    cmd = [sys.executable, __file__, "--part", part, "--config", config, *sys.argv[1:]]
    proc = subprocess.run(cmd, env={**os.environ, **numerics}, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{part} {config} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.splitlines()[-1])
    return out["seconds"], np.array(out["best"])


def compare(config: str, label: str, run: Run, seeds: list[int], device: str, pairs: int = 2) -> None:
    """The reference as PyTorch runs it by default (unpinned), then the engine pinned and unpinned
    in turn; medians of `pairs` runs each."""
    ref_time, ref_best = in_fresh_process("reference", config, UNPINNED)
    runs: dict[str, list] = {"pinned": [], "unpinned": []}
    for _ in range(pairs):
        for kind, numerics in (("pinned", {}), ("unpinned", UNPINNED)):
            runs[kind].append(in_fresh_process("engine", config, numerics))
    eng_time, unpinned = (float(np.median([seconds for seconds, _ in r])) for r in runs.values())
    eng_best = runs["pinned"][0][1]
    print(f"\n{label}: {run.epochs} epochs, {len(seeds)} seeds, device {device}")
    for what, t, best in (("reference", ref_time, ref_best), ("engine", eng_time, eng_best)):
        print(f"  {what:10} {t:8.3f} s/model   best val MSE {best.mean():7.2f} ± {best.std(ddof=1):.2f}")
    print(f"  speed-up   {ref_time / eng_time:8.2f} x   (reference unpinned, engine pinned)")
    spread = (ref_best.min(), ref_best.max())
    ok = spread[0] <= eng_best.mean() <= spread[1] or abs(eng_best.mean() - ref_best.mean()) <= ref_best.std(
        ddof=1
    )
    print(f"  accuracy   engine mean {'within' if ok else 'OUTSIDE'} the reference's seed spread")
    print(
        f"  unpinned   {unpinned:8.3f} s/model   (the engine without the pin; pinned / unpinned "
        f"{eng_time / unpinned:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--deep-epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--part", choices=["reference", "engine"], help="time one part (internal)")
    parser.add_argument("--config", choices=["wide", "deep"], help="of one configuration (internal)")
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    configs = {
        "wide": ("[128, 64] Adam lr 1e-2 batch 64", Run(epochs=args.epochs)),
        "deep": ("128 x 32 (deep) Adam lr 1e-2 batch 64", Run(hidden=[32] * 128, epochs=args.deep_epochs)),
    }
    if not args.part:
        print(f"torch {torch.__version__}, {args.threads} thread(s)")
        for config, (label, run) in configs.items():
            compare(config, label, run, seeds, args.device)
        return
    torch.set_num_threads(args.threads)
    spec = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["dataset"]
    dataset, table = read_table({**spec, "file": str(ROOT / spec["file"])})
    split = split_indices(len(table), {"train": 0.7, "val": 0.15, "test": 0.15}, 42)
    a = fit_and_scale(table, split, "train", dataset)[1]
    run = configs[args.config][1]
    if args.part == "reference":
        torch.set_flush_denormal(False)  # the reference runs as PyTorch does by default
        ref = [reference(run, s, a, args.device) for s in seeds]
        seconds, best = sum(t for t, _ in ref) / len(seeds), [b for _, b in ref]
    else:
        engine(dataclasses.replace(run, epochs=2), seeds, a, args.device)  # warm-up
        seconds, best = engine(run, seeds, a, args.device)
        best = best.tolist()
    print(json.dumps({"seconds": seconds, "best": best}))


if __name__ == "__main__":
    main()
