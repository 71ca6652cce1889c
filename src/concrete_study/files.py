"""Atomic file output: every file is written under a temporary name, then renamed into place.

A job killed half-way therefore never leaves a truncated file that a later run would accept.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from concrete_study.errors import DataError


def check_md5(content: bytes, expected: str | None, source, why: str) -> str:
    """The md5 of `content`; where it is not `expected` (None expects anything), a DataError
    naming `source`, both digests and `why` (where the expectation comes from, what to do)."""
    digest = hashlib.md5(content).hexdigest()
    if expected is not None and digest != expected:
        raise DataError(f"{source}: md5 {digest}, expected {expected} {why}")
    return digest


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_torch(path: str | Path, obj) -> None:
    """torch.save through a file handle: a path would put the random temporary name into the
    archive, and the same weights would not give the same bytes."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def remove_temporaries(directory: str | Path) -> None:
    """Delete temporary files that a killed job left in its own output folder."""
    for stale in Path(directory).glob(".*.tmp*"):
        stale.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | Path, content: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)


def _json_safe(value):
    """NaN and inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: str | Path, data) -> None:
    write_text(path, json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n")


def write_csv(path: str | Path, frame) -> None:
    """A pandas DataFrame as CSV, without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())
