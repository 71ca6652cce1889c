"""The study's result on one page: the final model, the standard benchmark and the intervals in a
dozen numbers, beside the original study, the baselines and the published results."""

from __future__ import annotations

import hashlib
import math
import subprocess
from pathlib import Path

import pandas as pd
import yaml

from concrete_study.markdown import markdown_table

BLEND = "Blend of the network and the peer, weighted by benchmark.peer.blend_weights"
# The original study's final test MSE (shared/reference/study-report.txt, Figure 20).
ORIGINAL_TEST_MSE = 30.4062


def headline(final: dict, benchmark: dict) -> dict:
    """The numbers `dvc metrics show` prints: what a reader compares between commits."""
    lo, hi = final["test_mse_ci95"]
    interval = final["interval"]
    peers = {
        f"{name}_rmse_mean": benchmark[name]["rmse_mean"] for name in ("peer", "blend") if name in benchmark
    }
    return {
        "final": {
            "test_rmse": final["test_rmse"],
            "test_rmse_ci95_low": math.sqrt(lo),
            "test_rmse_ci95_high": math.sqrt(hi),
            "test_mae": final["test_mae"],
            "test_r2": final["test_r2"],
        },
        "benchmark": {
            "rmse_mean": benchmark["rmse_mean"],
            "rmse_se": benchmark["rmse_se"],
            "single_rmse_mean": benchmark["single_rmse_mean"],
            **peers,
        },
        "interval": {
            "level": interval["level"],
            "final_half_width_mean": interval["test_half_width_mean"],
            "final_coverage": interval["test_coverage"],
            "benchmark_coverage": benchmark["coverage"],
            "benchmark_width_mean": benchmark["width_mean"],
        },
    }


def width_words(width: str) -> str:
    if width == "spread":
        return "wider where the seeds and models disagree"
    return "one width for every mixture"


def half_width_range(interval: dict) -> str:
    low, high = interval["test_half_width_range"]
    return f" on average (from {low:.1f} to {high:.1f})" if high > low else ""


def lock_state(root: str | Path, written: list[str]) -> str:
    """Whether the outs on disk are those dvc.lock records (`written`, this job's own, left out)."""
    lock = Path(root) / "dvc.lock"
    if not lock.is_file():
        return "no dvc.lock"
    outs = [o for stage in yaml.safe_load(lock.read_text())["stages"].values() for o in stage.get("outs", [])]
    differ = [
        o["path"]
        for o in outs
        if o["path"] not in written
        and (
            not (Path(root) / o["path"]).is_file()
            or hashlib.md5((Path(root) / o["path"]).read_bytes()).hexdigest() != o.get("md5")
        )
    ]
    if not differ:
        return "dvc.lock records these outs"
    return f"{len(differ)} outs differ from those dvc.lock records ({', '.join(differ)})"


def commit_state(root: str | Path) -> str:
    """The git commit the results were built from, and whether code or config had changed since."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "files outside a git checkout"
    changed = git("status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    changed = [ln for ln in changed if not ln[3:].startswith(("results/", "dvc.lock"))]
    return f"commit {head.stdout.strip()}" + (f" with {len(changed)} changed files" if changed else "")


def _best_published(published: pd.DataFrame) -> pd.Series:
    comparable = published[published["comparable"] == "yes"]
    return comparable.loc[comparable["rmse"].idxmin()]


def summary_markdown(final: dict, benchmark: dict, published: pd.DataFrame, built_from: str) -> str:
    """The page that opens the report and that results/summary.md holds."""
    lo, hi = (math.sqrt(v) for v in final["test_mse_ci95"])
    interval = final["interval"]
    hidden = ", ".join(str(w) for w in final["run"]["hidden"])

    def by_mse(name: str, mse: float) -> list[str]:
        return [name, f"{math.sqrt(mse):.2f}", "", "", f"{mse:.2f}"]

    run = final["run"]
    network = f"MLP [{hidden}]" + (" on the derived inputs" if run.get("inputs") == "derived" else "")
    network += " through periodic embeddings" if run.get("embedding") == "periodic" else ""
    if run.get("snapshots"):
        network += f", each seed the mean of {len(run['snapshots']) + 1} snapshots"
    name = f"Final model: {network}, {len(final['seeds'])}-seed ensemble"
    if "blend" in final:
        name = (
            f"Final model: {network}, blended with LightGBM, {final['blend']['weight']:.1f} on the "
            f"network, {len(final['seeds'])} seeds each"
        )
    rows = [
        [
            name,
            f"{final['test_rmse']:.2f} ({lo:.2f}-{hi:.2f})",
            f"{final['test_mae']:.2f}",
            f"{final['test_r2']:.3f}",
            f"{final['test_mse']:.2f}",
        ],
        *(
            [
                f"{label} alone",
                f"{final[part]['rmse']:.2f}",
                f"{final[part]['mae']:.2f}",
                f"{final[part]['r2']:.3f}",
                f"{final[part]['mse']:.2f}",
            ]
            for part, label in (("network", "Its network"), ("peer", "Its LightGBM peer"))
            if part in final
        ),
        by_mse("Mean single seed", final["test_mse_mean_single_seed"]),
        by_mse("Original study's final model", ORIGINAL_TEST_MSE),
        by_mse("Linear regression", final["baseline_linear_test_mse"]),
        by_mse("Mean strength", final["baseline_mean_test_mse"]),
    ]
    best = _best_published(published)
    error = f" ± {best['error']:.2f}" + (" (sd)" if best["error_kind"] == "sd" else "")
    bench = [
        [
            "This project: MLP seed ensemble, chosen per split on inner rows",
            f"{benchmark['rmse_mean']:.2f} ± {benchmark['rmse_se']:.2f}",
            "measured here",
        ],
        [
            "This project: mean single model",
            f"{benchmark['single_rmse_mean']:.2f} ± {benchmark['single_rmse_se']:.2f}",
            "measured here",
        ],
    ]
    for name, method in (("peer", "LightGBM peer, tuned per split on the same inner rows"), ("blend", BLEND)):
        if name in benchmark:
            rmse = f"{benchmark[name]['rmse_mean']:.2f} ± {benchmark[name]['rmse_se']:.2f}"
            bench.append([method, rmse, "measured here"])
    bench.append([f"Best published: {best['method']}", f"{best['rmse']:.2f}{error}", best["source"]])
    lines = [
        "# The result",
        "",
        f"## Final model: {final['test_rows']} test rows, looked at once",
        "",
        *markdown_table(["model", "test RMSE, MPa (95% bootstrap)", "MAE", "R²", "MSE, MPa²"], rows, "lrrrr"),
        "",
        f"## Standard benchmark: {benchmark['splits']} published 90/10 splits, test RMSE (MPa), mean ± SE",
        "",
        *markdown_table(["model", "test RMSE", "source"], bench, "lrl"),
        "",
        "## Prediction intervals",
        "",
        f"{interval['level']:.0%} split-conformal intervals ({width_words(interval['width'])}): the final "
        f"model's, ± {interval['test_half_width_mean']:.1f} MPa{half_width_range(interval)}, "
        f"covered {interval['test_coverage']:.1%} of its {final['test_rows']} test rows. On the benchmark's "
        f"{benchmark['test_rows']:,} test rows: "
        + "; ".join(
            f"{name} {b['coverage']:.1%}, mean width {b['width_mean']:.1f} MPa"
            for name, b in (
                ("the network", benchmark),
                ("the peer", benchmark.get("peer")),
                ("the blend", benchmark.get("blend")),
            )
            if b
        )
        + ".",
        "",
        f"Built from {built_from}.",
        "",
    ]  # fmt: skip
    return "\n".join(lines)
