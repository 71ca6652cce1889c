"""A job's frame: its output goes to its log file, a failure is one line on the terminal, a
finished job exits without the interpreter's last garbage collection, and a job that sizes the
cluster's requests measures itself."""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import sys
import time
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


# Snakemake's benchmark columns (`benchmark:` files), so that the tools that read those read these.
MEASURED = (
    "s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load", "cpu_time",
)  # fmt: skip


@contextlib.contextmanager
def measured(path: str | Path) -> Iterator[None]:
    """Write the job's own process's wall seconds, peak memory (MB) and CPU seconds to `path` once
    it ends well. Snakemake's `benchmark:` measures the process it started, which for a job forked
    from the server (forkserver.py) only waits: the job measures itself, forked or not."""
    entered = time.monotonic()
    yield
    seconds = _process_seconds(time.monotonic() - entered)
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    io = _proc_fields("/proc/self/io", ":")
    mb = 1024 * 1024
    values = {
        "s": f"{seconds:.4f}",
        "h:m:s": time.strftime("%H:%M:%S", time.gmtime(seconds)),
        "max_rss": f"{max(own.ru_maxrss, children.ru_maxrss) / 1024:.2f}",  # kB on Linux
        "max_vms": _kb_field("/proc/self/status", "VmPeak"),
        "max_uss": "NA",  # a fork shares the server's pages: what is its own is not measured
        "max_pss": "NA",
        "io_in": f"{int(io['read_bytes']) / mb:.2f}" if io else "NA",
        "io_out": f"{int(io['write_bytes']) / mb:.2f}" if io else "NA",
        "mean_load": f"{100 * cpu / seconds:.2f}" if seconds else "NA",
        "cpu_time": f"{cpu:.2f}",
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\t".join(MEASURED) + "\n" + "\t".join(values[k] for k in MEASURED) + "\n")


def _process_seconds(fallback: float) -> float:
    """Seconds since this process started (a fork: since the fork), or `fallback` without /proc."""
    try:
        with open("/proc/self/stat") as fh:
            started = int(fh.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return fallback


def _proc_fields(path: str, separator: str) -> dict[str, str]:
    try:
        with open(path) as fh:
            return dict(line.split(separator, 1) for line in fh if separator in line)
    except OSError:
        return {}


def _kb_field(path: str, name: str) -> str:
    value = _proc_fields(path, ":").get(name)
    return f"{int(value.split()[0]) / 1024:.2f}" if value else "NA"
