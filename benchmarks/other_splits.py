"""The standard benchmark on splits that are not the published ones.

Everything the benchmark's configuration holds (the network's candidates, the peer's grid, the
blend, the intervals) was chosen while looking at the 20 published splits, and a split's test rows
are the other splits' training rows: the published numbers have seen every row. Fresh random 90/10
splits of the same sizes (927 training, 103 test rows), drawn with another seed, check that choice
on partitions it has not seen. Runs the benchmark's own rules, unchanged, in a temporary copy of
the repository whose config points `dataset.splits` at the fresh splits; prints each model's
RMSE (mean ± SE over the splits), the paired difference and the intervals, and writes the summary.

    .venv/bin/python benchmarks/other_splits.py [--splits 20] [--seed 2026] [--cores 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from study import BIN, copy_repo, timed

from concrete_study.splits import split_file


def write_splits(directory: Path, md5_file: Path, n_splits: int, n_rows: int, n_test: int, seed: int) -> None:
    """`n_splits` random partitions in the published format, and their md5 list."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n_splits):
        order = rng.permutation(n_rows)
        for part, rows in (("train", order[n_test:]), ("test", order[:n_test])):
            path = split_file(directory, part, i)
            path.write_text("".join(f"{r}\n" for r in rows))
            lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {path.name}\n")
    md5_file.write_text("".join(lines))


def report(summary: dict) -> str:
    def model(name: str, s: dict) -> str:
        return (
            f"{name:8} RMSE {s['rmse_mean']:.3f} ± {s['rmse_se']:.3f}   {s['level']:.0%} interval: coverage "
            f"{s['coverage']:.1%} (splits {s['coverage_split_min']:.1%}-{s['coverage_split_max']:.1%}), "
            f"mean width {s['width_mean']:.1f} MPa"
        )

    lines = [model("network", summary)]
    lines += [model(k, summary[k]) for k in ("peer", "blend") if k in summary]
    if "paired" in summary:
        p = summary["paired"]
        lines.append(
            f"network minus peer {p['rmse_difference_mean']:+.3f} ± {p['rmse_difference_se']:.3f}; "
            f"wins: network {p['network_wins']}, peer {p['peer_wins']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026, help="draws the splits (not the published ones)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--out", help="also write the benchmark's summary.json here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="concrete-other-splits-") as tmp:
        repo = Path(tmp)
        copy_repo(repo)
        n_rows = len(np.loadtxt(repo / "data" / "uci_splits" / "index_train_0.txt")) + len(
            np.loadtxt(repo / "data" / "uci_splits" / "index_test_0.txt")
        )
        write_splits(
            repo / "data" / "other_splits",
            repo / "config" / "other_splits.md5",
            args.splits,
            n_rows,
            103,
            args.seed,
        )
        config_path = repo / args.configfile
        config = yaml.safe_load(config_path.read_text())
        config["dataset"].update(splits="data/other_splits", splits_md5="config/other_splits.md5")
        config.setdefault("benchmark", {})["splits"] = args.splits
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        # The study's folder: results/ for config/config.yaml, results/NAME/ for config/NAME.yaml.
        name = Path(args.configfile).stem
        summary_file = Path("results", *([] if name == "config" else [name]), "benchmark", "summary.json")
        cmd = [str(BIN / "snakemake"), str(summary_file), "--cores", str(args.cores)]
        wall = timed([*cmd, "--configfile", args.configfile], repo)
        summary = json.loads((repo / summary_file).read_text())
    print(f"{args.splits} random 90/10 splits, seed {args.seed}, {wall:.0f} s")
    print(report(summary))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
