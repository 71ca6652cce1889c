"""The study shared through DVC: `make push` in the clone that ran it, `make pull` in any other.

push: dvc.lock must record this checkout (every dep and out as it is, and committed), then
`dvc push` sends the data and every result to the default remote.

pull: the checkout's code, config and data must be what dvc.lock pinned; then `dvc pull`; then
every pulled file is checked against the md5 that dvc.lock (or a directory's listing) gives, and
one that differs is deleted, from the results and from DVC's cache, so that it is never taken
as a result. Last, Snakemake's records: it decides code, params and input reruns from its own
records in `.snakemake/`, which do not travel, and a missing record counts as no change. The
deps check proves that this checkout's workflow is the one that made the pulled results, so
the stage's own command with `--touch --forceall` writes each job's record as a run would and
puts the mtimes in the order of the jobs; a config edit then plans the jobs it plans in the
clone that pushed.

    python -m concrete_study.sharing push|pull
"""

from __future__ import annotations

import functools
import hashlib
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent


class SharingError(Exception):
    """A push or pull that cannot go on: the message says why and what to do."""


def dvc(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "dvc"), *args], cwd=root, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SharingError(f"dvc {' '.join(args)} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc


def stale(root: Path, outs: bool) -> list[str]:
    """What `dvc status` finds changed against dvc.lock: every change, or (outs=False) all but
    the outs, which a clone that has not pulled yet does not have."""
    problems = []
    for stage, entries in json.loads(dvc(root, "status", "--json").stdout or "{}").items():
        for entry in entries:
            if isinstance(entry, str):
                problems.append(f"{stage}: {entry}")
                continue
            for kind, changes in entry.items():
                if outs or kind != "changed outs":
                    problems += [f"{stage}: {kind} {name}: {what}" for name, what in changes.items()]
    return problems


def default_remote(root: Path) -> str:
    proc = dvc(root, "remote", "default", check=False)  # fails where no default is set
    name = proc.stdout.strip()
    if proc.returncode != 0 or not name:
        raise SharingError(
            "no default DVC remote: add the team's, `dvc remote add -d team <folder or ssh://host/path>`, "
            "and commit .dvc/config"
        )
    return name


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def out_md5(path: Path) -> str:
    """The md5 DVC gives an out: a file's, or a directory's (that of its listing, the files' md5s
    by relative path, with ".dir")."""
    if not path.is_dir():
        return _md5(path)
    names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    listing = [{"md5": _md5(path / name), "relpath": name} for name in names]
    return hashlib.md5(json.dumps(listing).encode()).hexdigest() + ".dir"


@functools.cache
def _cache(root: Path):
    """DVC's own cache of this checkout, wherever its config puts it (`dvc cache dir`: a shared
    folder on a cluster, with `cache.shared group` and links instead of copies)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return repo.cache.local


def _cached(root: Path, md5: str) -> Path:
    """Where DVC's cache keeps the object of this md5 (a file, or a directory's listing)."""
    path = _cache(root.resolve()).oid_to_path(md5.removesuffix(".dir"))
    return Path(path + (".dir" if md5.endswith(".dir") else ""))


def _tracked(root: Path) -> list[Path]:
    """The .dvc files (data.dvc): what DVC tracks besides the stage."""
    return sorted(p for p in root.glob("*.dvc") if p.is_file())


def pinned_outs(root: Path) -> list[tuple[str, str]]:
    """(path, md5) of every out that dvc.lock and the .dvc files pin."""
    entries = [out for stage in yaml.safe_load((root / "dvc.lock").read_text())["stages"].values()
               for out in stage.get("outs", [])]  # fmt: skip
    for tracked in _tracked(root):
        entries += yaml.safe_load(tracked.read_text())["outs"]
    return [(out["path"], out["md5"]) for out in entries]


def pinned_files(root: Path, path: str, md5: str) -> dict[str, str] | None:
    """Each file of an out with its md5: the out itself, or a directory's files as its listing in
    the cache names them; None where the listing is missing or is not what dvc.lock pins."""
    if not md5.endswith(".dir"):
        return {path: md5}
    listing = _cached(root, md5)
    if not listing.is_file() or _md5(listing) != md5.removesuffix(".dir"):
        return None
    return {f"{path}/{entry['relpath']}": entry["md5"] for entry in json.loads(listing.read_text())}


def refuse_damaged(root: Path) -> list[str]:
    """Every pinned file that is missing or whose bytes are not its md5. A damaged one is deleted
    from the results and from the cache (a later checkout would bring it back)."""
    bad = []
    for path, md5 in pinned_outs(root):
        files = pinned_files(root, path, md5)
        if files is None:
            bad.append(f"{path} (its listing did not arrive intact)")
            _remove(root / path)
            _cached(root, md5).unlink(missing_ok=True)
            continue
        for name, digest in files.items():
            target = root / name
            if not target.is_file():
                bad.append(f"{name} (missing)")
            elif _md5(target) != digest:
                bad.append(f"{name} (its bytes are not the md5 dvc.lock pins)")
                target.unlink()
                _cached(root, digest).unlink(missing_ok=True)
    return bad


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def stage_command(root: Path) -> list[str]:
    """The snakemake command of dvc.yaml's stage, as this environment runs it."""
    (stage,) = yaml.safe_load((root / "dvc.yaml").read_text())["stages"].values()
    argv = shlex.split(stage["cmd"])
    if argv[0] != "snakemake":
        raise SharingError(f"dvc.yaml: the stage runs {argv[0]!r}, not snakemake")
    return [str(BIN / "snakemake"), *argv[1:]]


def rebuild_records(root: Path) -> None:
    proc = subprocess.run(
        [*stage_command(root), "--touch", "--forceall", "--quiet"], cwd=root, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SharingError(f"snakemake --touch failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")


def push(root: Path) -> str:
    problems = stale(root, outs=True)
    if problems:
        raise SharingError(
            f"dvc.lock does not record this checkout ({'; '.join(problems)}): "
            "`make run` (it commits the outs), then commit dvc.lock"
        )
    if subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "dvc.lock"], cwd=root).returncode != 0:
        raise SharingError("dvc.lock is not committed: a clone pulls what the committed lock pins")
    remote = default_remote(root)
    dvc(root, "push")
    return f"pushed the data and every result to {remote}"


def pull(root: Path) -> str:
    remote = default_remote(root)
    dvc(root, "pull", *(p.name for p in _tracked(root)))  # the data: a dep of the stage
    problems = stale(root, outs=False)
    if problems:
        raise SharingError(
            f"this checkout is not what dvc.lock pinned ({'; '.join(problems)}): "
            "pull at the commit that pinned the results, or rebuild them with `make run`"
        )
    pulled = dvc(root, "pull", check=False)
    bad = refuse_damaged(root)
    rebuild_records(root)
    if bad:
        raise SharingError(
            f"{len(bad)} file(s) from {remote} refused, not taken as results: {', '.join(bad)}; "
            "`make run` rebuilds what they hold, the rest is pulled"
        )
    if pulled.returncode != 0:
        raise SharingError(f"dvc pull failed: {pulled.stderr.strip()}")
    return f"pulled the data and every result from {remote}: nothing to rerun"


def main() -> int:
    actions = {"push": push, "pull": pull}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        sys.exit(__doc__)
    try:
        print(f"make {sys.argv[1]}: {actions[sys.argv[1]](Path.cwd())}")
    except SharingError as exc:
        print(f"make {sys.argv[1]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
