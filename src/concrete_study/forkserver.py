"""A warm start for the workflow's jobs on one machine: one process imports torch, numpy, pandas,
matplotlib and LightGBM once, and each job forks from it instead of importing them again (about
2 s of a training job's start-up, 1 s of a figure's).

Snakemake still runs every job as a process of its own. Its script's first line, `delegate()`,
connects to the server and hands over the job's standard streams, working directory, environment,
arguments and module path; a fork of the server runs the same script file with them, while the
job's process waits, passes on the signals it gets, and exits with the fork's status. A job runs
in its own process instead (the same bytes, only slower) where no server runs, under SLURM (its
job's size is the job's), or where its environment differs from the server's in anything the
preloaded libraries read as they load (OpenBLAS's kernels and threads, ...).

    python -m concrete_study.forkserver SOCKET PARENT_PID   # serves until killed or the parent exits
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

SOCKET_VARIABLE = "CONCRETE_STUDY_FORKSERVER"
# What job scripts import before their own code: Snakemake's preamble unpickles its object, then
# the libraries. concrete_study is left out: each job imports it from the sources as they are.
PRELOAD = (
    "snakemake.iocontainers",
    "snakemake.logging",
    "numpy",
    "pandas",
    "torch",
    "matplotlib.pyplot",
    "lightgbm",
)
# The environment the preloaded libraries read as they load (and Python as it starts): a job's
# values must be the server's.
READ_AT_LOAD = (
    "OPENBLAS_",
    "GOTO_",
    "OMP_",
    "MKL_",
    "KMP_",
    "ATEN_",
    "NPY_",
    "TORCH",
    "PYTORCH_",
    "CUDA_",
    "MPL",
    "MALLOC_",
    "GLIBC_",
    "LD_",
    "PYTHON",
    "VECLIB_",
    "NUMEXPR_",
)
# The thread counts Snakemake gives a job's environment (snakemake.shell): the server's are those
# of a job of the study's `threads`.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
LENGTH = struct.Struct("!I")
STATUS = struct.Struct("!i")
ACCEPTED, REFUSED = b"A", b"R"
PARENT_POLL_S = 1.0


def delegate() -> None:
    """Run this job's script in a fork of the server and exit with its status; return at once,
    to run it here, where no server takes it."""
    path = os.environ.get(SOCKET_VARIABLE)
    if not path or "SLURM_JOB_ID" in os.environ:
        return
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        _send_request(conn)
        answer = conn.recv(1)
    except OSError:  # no server yet (it is loading), or none any more
        conn.close()
        return
    if answer != ACCEPTED:
        conn.close()
        return
    forwarded: list[int] = []

    def forward(signum: int, frame) -> None:
        forwarded.append(signum)
        with contextlib.suppress(OSError):
            conn.send(bytes([signum]))

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    status = _receive(conn, STATUS.size)
    if len(status) == STATUS.size:
        os._exit(STATUS.unpack(status)[0])
    if forwarded:  # it ended by the signal this process was sent: end by it too
        signal.signal(forwarded[-1], signal.SIG_DFL)
        os.kill(os.getpid(), forwarded[-1])
    print("concrete-study: the job's process (a fork of the server) ended without a status", file=sys.stderr)
    os._exit(1)


def _send_request(conn: socket.socket) -> None:
    request = json.dumps(
        {
            "executable": sys.executable,
            "cwd": os.getcwd(),
            "argv": sys.argv,
            "path": sys.path,
            "environ": dict(os.environ),
        }
    ).encode()
    # The length travels with the three standard streams; the request follows.
    socket.send_fds(conn, [LENGTH.pack(len(request))], [0, 1, 2])
    conn.sendall(request)


def _receive(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def refusal(request: dict, environ: dict[str, str]) -> str | None:
    """Why a job must run in its own process rather than in a fork of this one; None if it need not."""
    if request["executable"] != sys.executable:
        return f"its Python is {request['executable']}, the server's {sys.executable}"
    theirs = request["environ"]
    for key in sorted(set(theirs) | set(environ)):
        if key.startswith(READ_AT_LOAD) and theirs.get(key) != environ.get(key):
            return f"{key}={theirs.get(key)!r} where the server has {environ.get(key)!r}"
    return None


def serve(path: str, parent: int) -> None:
    """Preload, then fork a process for each job that connects, until the parent process exits."""
    environ = dict(os.environ)
    started = time.perf_counter()
    for name in PRELOAD:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # the forks' collections leave the preloaded objects (and their pages) alone
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the forks report to their jobs; none waits
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)  # only now: a job that comes earlier runs in its own process
    listener.listen(64)
    listener.settimeout(PARENT_POLL_S)
    print(f"preloaded {', '.join(PRELOAD)} in {time.perf_counter() - started:.1f} s", flush=True)
    while os.getppid() == parent:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        try:
            _serve_one(listener, conn, environ)
        except Exception as exc:  # a job that went away while it was being taken: the next one
            print(f"a job's request failed: {exc!r}", flush=True)
        finally:
            conn.close()
    listener.close()
    with contextlib.suppress(OSError):  # a parent killed without its hooks leaves nothing behind
        os.unlink(path)
        os.rmdir(os.path.dirname(path))


def _serve_one(listener: socket.socket, conn: socket.socket, environ: dict[str, str]) -> None:
    header, fds, _, _ = socket.recv_fds(conn, LENGTH.size, 3)
    try:
        request = json.loads(_receive(conn, LENGTH.unpack(header)[0]))
        reason = refusal(request, environ)
        if reason:
            print(f"{request['argv'][0]}: runs in its own process: {reason}", flush=True)
            conn.sendall(REFUSED)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            listener.close()
            _run_job(conn, fds, request)  # never returns
        print(f"{request['argv'][0]}: pid {pid}", flush=True)
    finally:
        for fd in fds:  # the fork has its own copies
            os.close(fd)


def _run_job(conn: socket.socket, fds: list[int], request: dict) -> None:
    """In the fork: become the job's process, run its script, report its status and exit."""
    code = 1
    try:
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["environ"])
        del os.environ[SOCKET_VARIABLE]  # the job's own subprocesses start cold
        tempfile.tempdir = None  # found again from the job's TMPDIR
        sys.argv = request["argv"]
        sys.path[:] = request["path"]
        for name in [m for m in sys.modules if m == "concrete_study" or m.startswith("concrete_study.")]:
            del sys.modules[name]
        sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)
        conn.sendall(ACCEPTED)
        threading.Thread(target=_follow_job_process, args=(conn,), daemon=True).start()
        code = _run_script(request["argv"][0])
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(OSError):
            conn.sendall(STATUS.pack(code))
        os._exit(code)


def _run_script(script: str) -> int:
    """The script as `python script` runs it; its exit status."""
    import runpy

    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _follow_job_process(conn: socket.socket) -> None:
    """Take the signals the job's process passes on; end with it, should it end first."""
    while True:
        try:
            data = conn.recv(1)
        except OSError:
            data = b""
        if not data:
            os.kill(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), data[0])


class Server:
    """The server of one Snakemake run: started by its onstart hook, stopped by onsuccess and
    onerror (and on its own once Snakemake is gone)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.directory: str | None = None

    def start(self, threads: int, log: str | Path) -> None:
        self.directory = tempfile.mkdtemp(prefix="concrete-study-")
        path = os.path.join(self.directory, "socket")
        environ = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads))}
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "concrete_study.forkserver", path, str(os.getpid())],
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches Snakemake and the jobs, not the server
            )
        os.environ[SOCKET_VARIABLE] = path  # the jobs inherit Snakemake's environment

    def stop(self) -> None:
        os.environ.pop(SOCKET_VARIABLE, None)
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
