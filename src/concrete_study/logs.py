"""A job's frame: its output goes to its log file, a failure is one line on the terminal, and a
finished job exits without the interpreter's last garbage collection."""

from __future__ import annotations

import contextlib
import gc
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from concrete_study.errors import ConfigError, DataError, ModelFileError

# The project's own errors: the message is the whole story, in the log as on the terminal.
OURS = (ConfigError, DataError, ModelFileError)
# Errors printed as one line on the terminal; the log keeps their traceback.
EXPECTED = (*OURS, FileNotFoundError, RuntimeError, ValueError)


@contextlib.contextmanager
def log_to(path: str | Path) -> Iterator[None]:
    """Send stdout and stderr to `path`; on an error, print one line to the real stderr. Every
    job script runs in it and ends with it."""
    terminal = sys.stderr
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            yield
        except EXPECTED as exc:
            if isinstance(exc, OURS):
                print(f"error: {exc}", file=log)
            else:
                traceback.print_exc(file=log)
            print(f"error: {exc}", file=terminal)
            raise SystemExit(1) from None
    # The job is done and its files closed: at exit the interpreter would walk every object it
    # made (torch's operator registrations, mostly) for cycles, half a second of a job that
    # imported torch. Frozen, they are left to the process's end.
    gc.freeze()
