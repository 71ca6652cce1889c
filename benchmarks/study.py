"""Study benchmark: the whole workflow from an empty results folder, in a temporary copy.

Prints the wall time of `snakemake --cores N` for the study without the standard benchmark, then
what the benchmark adds when run after it (an upper bound: run together, its jobs share the cores
with the study's), how the training jobs' time splits into process start-up (imports, reading
data) and training proper, the time of a no-op rerun, and the peak memory of a training job.
Training time measured in the same run is the reference: the wall time is also given as a ratio
to the ideal (training CPU time / cores). With --pin-cost, the same study once more in another copy
without the pin (numerics.UNPINNED: each library's own choice for this CPU): the wall-time ratio, and how far
the headline metrics move between the two kernel paths (what "within a tolerance" means).

    .venv/bin/python benchmarks/study.py [--cores 2] [--configfile config/smoke.yaml] [--pin-cost]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from concrete_study.numerics import UNPINNED

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import copy_repo  # noqa: E402  (the one copy of a checkout, as the tests make it)


def first_row(tsv: Path) -> dict:
    """The one row of a Snakemake benchmark file."""
    with open(tsv) as fh:
        return next(csv.DictReader(fh, delimiter="\t"))


def timed(cmd: list[str], cwd: Path, numerics: dict[str, str]) -> float:
    start = time.perf_counter()
    # The copy's own library, not the checkout's, is what its jobs import.
    env = {**os.environ, **numerics, "PYTHONPATH": str(cwd / "src"), "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def headline(repo: Path) -> dict[str, float]:
    """The numbers a reader quotes: the final model's test metrics and the benchmark's RMSE."""
    final = json.loads((repo / "results" / "final" / "metrics.json").read_text())
    out = {f"final {k}": final[k] for k in ("test_mse", "test_rmse", "test_mae", "test_r2")}
    summary = repo / "results" / "benchmark" / "summary.json"
    if summary.is_file():
        bench = json.loads(summary.read_text())
        out |= {f"benchmark {k}": bench[k] for k in ("rmse_mean", "coverage", "width_mean")}
    return out


def study(args, extra: list[str], numerics: dict[str, str]) -> dict:
    """The study, then the benchmark, then a no-op rerun, in a fresh copy; times and metrics."""
    with tempfile.TemporaryDirectory(prefix="concrete-bench-") as tmp:
        repo = Path(tmp)
        copy_repo(repo)
        snakemake = [str(BIN / "snakemake"), "--cores", str(args.cores), *extra]
        wall = timed([*snakemake, "--omit-from", "benchmark_splits"], repo, numerics)
        bench_wall = timed(snakemake, repo, numerics)
        noop = timed(snakemake, repo, numerics)
        bench_s = sum(
            float(first_row(t)["s"]) for t in (repo / "results" / "benchmarks" / "benchmark").rglob("*.tsv")
        )
        job_s, train_s, peak_mb = 0.0, 0.0, 0.0
        jobs = sorted((repo / "results" / "benchmarks" / "train").glob("*.tsv"))
        for tsv in jobs:
            row = first_row(tsv)
            job_s += float(row["s"])
            peak_mb = max(peak_mb, float(row["max_rss"]))
            times = (repo / "results" / "logs" / "train" / f"{tsv.stem}.time.csv").read_text().splitlines()
            train_s += float(times[-1].split(",")[1])
        return {
            "wall": wall,
            "bench_wall": bench_wall,
            "noop": noop,
            "bench_s": bench_s,
            "jobs": len(jobs),
            "job_s": job_s,
            "train_s": train_s,
            "peak_mb": peak_mb,
            "headline": headline(repo),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", help="a study config (default: config/config.yaml)")
    parser.add_argument("--pin-cost", action="store_true", help="also run it without the pin")
    args = parser.parse_args()
    extra = ["--configfile", args.configfile] if args.configfile else []
    r = study(args, extra, {})
    startup = r["job_s"] - r["train_s"]
    ideal = r["job_s"] / args.cores
    wall = r["wall"]
    print(f"study {args.configfile or 'config/config.yaml'}, snakemake --cores {args.cores}")
    print(f"  study wall time          {wall:8.1f} s   (goal < 360 s: {wall / 360:.2f} of it)")
    print(f"  + standard benchmark     {r['bench_wall']:8.1f} s   (run after the study; goal < 120 s)")
    print(f"    its jobs               {r['bench_s']:8.1f} s of job time in all")
    print(f"  training jobs            {r['jobs']:8d}     {r['job_s']:8.1f} s of job time in all")
    print(f"    training proper        {r['train_s']:8.1f} s   ({r['train_s'] / r['job_s']:.0%})")
    print(
        f"    process start-up       {startup:8.1f} s   ({startup / r['job_s']:.0%}: imports, data, writing)"
    )
    print(f"  wall / ideal             {wall / ideal:8.2f}     (ideal = training job time / cores)")
    print(f"  no-op rerun              {r['noop']:8.2f} s   (goal < 5 s)")
    print(f"  peak memory of a job     {r['peak_mb']:8.0f} MB  (goal < 600 MB)")
    if not args.pin_cost:
        return
    u = study(args, extra, UNPINNED)
    total, total_u = r["wall"] + r["bench_wall"], u["wall"] + u["bench_wall"]
    print("without the pin (each library's own kernels and threads for this CPU), in another copy")
    print(f"  study + benchmark        {total_u:8.1f} s   (pinned {total:.1f} s: {total / total_u:.2f}x)")
    pinned_s, ratio = r["train_s"], r["train_s"] / u["train_s"]
    print(f"  training proper          {u['train_s']:8.1f} s   (pinned {pinned_s:.1f} s: {ratio:.2f}x)")
    for key, pinned in r["headline"].items():
        other = u["headline"][key]
        print(f"  {key:24} {pinned:10.4f} pinned, {other:10.4f} unpinned, difference {other - pinned:+.4f}")


if __name__ == "__main__":
    main()
