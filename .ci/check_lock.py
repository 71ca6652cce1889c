"""CI: dvc.lock pins this commit, and a fresh run reproduces it byte for byte.

python .ci/check_lock.py deps   # before the run: no changed dependency, code, params or data
python .ci/check_lock.py outs   # after the run: every out's md5 equals the one in dvc.lock
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).parent / "dvc"


def changed_dependencies() -> list[str]:
    """What `dvc status` finds changed besides the outs (which a fresh clone does not have yet)."""
    proc = subprocess.run([str(DVC), "status", "--json"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"dvc status failed: {proc.stderr.strip()}")
    problems = []
    for stage, entries in json.loads(proc.stdout or "{}").items():
        for entry in entries:
            if isinstance(entry, str):
                problems.append(f"{stage}: {entry}")
                continue
            for kind, changes in entry.items():
                if kind != "changed outs":
                    problems += [f"{stage}: {kind} {name}: {what}" for name, what in changes.items()]
    return problems


def committed_lock() -> dict:
    """dvc.lock as committed: `make run` ends with `dvc commit`, which rewrites the working copy
    where the outs differ, so the committed one is what the run must reproduce."""
    proc = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=ROOT, capture_output=True, text=True)
    return yaml.safe_load(proc.stdout if proc.returncode == 0 else (ROOT / "dvc.lock").read_text())


def differing_outs() -> list[str]:
    """Each out of the committed dvc.lock whose file is missing or has another md5."""
    lock = committed_lock()
    problems = []
    for name, stage in lock["stages"].items():
        for out in stage.get("outs", []):
            path = ROOT / out["path"]
            if not path.is_file():
                problems.append(f"{name}: {out['path']} is missing")
                continue
            digest = hashlib.md5(path.read_bytes()).hexdigest()
            if digest != out["md5"]:
                problems.append(f"{name}: {out['path']} has md5 {digest}, dvc.lock has {out['md5']}")
    return problems


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "deps":
        problems = changed_dependencies()
        hint = "dvc.lock is not current: run `dvc repro` and commit dvc.lock"
    elif mode == "outs":
        problems = differing_outs()
        hint = "the run did not reproduce dvc.lock"
    else:
        sys.exit(__doc__)
    for problem in problems:
        print(f"{hint}: {problem}", file=sys.stderr)
    if not problems:
        print(f"dvc.lock: {'dependencies current' if mode == 'deps' else 'every out reproduced'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
