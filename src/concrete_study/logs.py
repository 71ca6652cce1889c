"""Job logging: a job's output goes to its log file; a failure is one line on the terminal."""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from concrete_study.errors import ConfigError, DataError, ModelFileError

# Errors whose message is already the whole story; anything else keeps its traceback in the log.
EXPECTED = (ConfigError, DataError, ModelFileError, FileNotFoundError, RuntimeError, ValueError)


@contextlib.contextmanager
def log_to(path: str | Path) -> Iterator[None]:
    """Send stdout and stderr to `path`; on an error, print one line to the real stderr."""
    terminal = sys.stderr
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            yield
        except EXPECTED as exc:
            traceback.print_exc(file=log)
            print(f"error: {exc}", file=terminal)
            raise SystemExit(1) from None
