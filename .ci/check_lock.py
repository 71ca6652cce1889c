"""CI: dvc.lock pins this commit, and a fresh run reproduces it byte for byte.

python .ci/check_lock.py deps   # before the run: no changed dependency, code, params or data
python .ci/check_lock.py outs   # after the run: every out's md5 equals the one in dvc.lock
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import yaml

from concrete_study.sharing import SharingError, out_md5, stale

ROOT = Path(__file__).resolve().parents[1]


def committed(path: str) -> str | None:
    """A file as the commit has it (None where git does not have it)."""
    proc = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def committed_lock() -> dict:
    """dvc.lock as committed: `make run` ends with `dvc commit`, which rewrites the working copy
    where the outs differ, so the committed one is what the run must reproduce."""
    return yaml.safe_load(committed("dvc.lock") or (ROOT / "dvc.lock").read_text())


def numeric_leaves(value, prefix: str = "") -> dict[str, float]:
    """Every number in a JSON document, by its dotted key."""
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in numeric_leaves(item, f"{prefix}{key}.").items()
        }
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in numeric_leaves(item, f"{prefix}{i}.").items()
        }
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {prefix.rstrip("."): float(value)}
    return {}


def how_far(path: str) -> list[str]:
    """By how much an out in git moved: each metric's old and new value, or a table's largest change."""
    old = committed(path)
    if old is None:
        return ["  (not in git: the metrics files in git show how far the results moved)"]
    new = (ROOT / path).read_text()
    if path.endswith(".json"):
        before, after = numeric_leaves(json.loads(old)), numeric_leaves(json.loads(new))
        lines = []
        for key in sorted(before.keys() | after.keys()):
            a, b = before.get(key), after.get(key)
            if a != b and not (a is not None and b is not None and math.isnan(a) and math.isnan(b)):
                change = f" ({b - a:+.4g}, {(b - a) / abs(a):+.2%})" if a and b is not None else ""
                lines.append(f"  {key}: {a!r} -> {b!r}{change}")
        return lines
    before, after = (list(csv.reader(io.StringIO(text))) for text in (old, new))
    if len(before) != len(after) or before[:1] != after[:1]:
        return [f"  rows or columns changed: {len(before) - 1} -> {len(after) - 1} rows"]
    diffs = [
        (abs(float(y) - float(x)), header)
        for row_a, row_b in zip(before[1:], after[1:], strict=True)
        for header, x, y in zip(before[0], row_a, row_b, strict=True)
        if x != y and _is_number(x) and _is_number(y)
    ]
    if not diffs:
        return ["  same numbers, other text"]
    largest, column = max(diffs)
    return [f"  {len(diffs)} cells differ; the largest change is {largest:.4g} in column {column!r}"]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def differing_outs() -> list[str]:
    """Each out of the committed dvc.lock that is missing or has another md5, and how far."""
    lock = committed_lock()
    problems = []
    for name, stage in lock["stages"].items():
        for out in stage.get("outs", []):
            path = ROOT / out["path"]
            if not path.exists():
                problems.append(f"{name}: {out['path']} is missing")
                continue
            digest = out_md5(path)
            if digest != out["md5"]:
                problems.append(f"{name}: {out['path']} has md5 {digest}, dvc.lock has {out['md5']}")
                problems += how_far(out["path"])
    return problems


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "deps":
        try:
            problems = stale(ROOT, outs=False)
        except SharingError as exc:
            sys.exit(str(exc))
        hint = "dvc.lock is not current: run `dvc repro` and commit dvc.lock"
    elif mode == "outs":
        problems = differing_outs()
        hint = "the run did not reproduce dvc.lock"
        if problems:
            print(
                "dvc.lock: code, config and data are those it records (the deps check), so the numbers "
                "below moved because of the machine, not a change: see docs/reproducibility.md",
                file=sys.stderr,
            )
    else:
        sys.exit(__doc__)
    for problem in problems:
        print(problem if problem.startswith("  ") else f"{hint}: {problem}", file=sys.stderr)
    if not problems:
        print(f"dvc.lock: {'dependencies current' if mode == 'deps' else 'every out reproduced'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
