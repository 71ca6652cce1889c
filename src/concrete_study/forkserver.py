"""A warm start for the workflow's jobs on one machine: one process imports torch, numpy, pandas,
matplotlib and LightGBM once, and each job forks from it instead of importing them again (about
2 s of a training job's start-up, 1 s of a figure's).

Snakemake still runs every job as a process of its own. Its script's first line, `delegate()`,
connects to the server and hands over the job's standard streams, working directory, environment,
arguments and module path; a fork of the server runs the same script file with them, while the
job's process waits, passes on the signals it gets, and ends as the fork ended: with its exit
status, or killed by the same signal (the server waits for each fork and reports how it ended,
which a fork killed by SIGKILL cannot do itself). A fork copies only the thread that forks, so
the server forks only while it runs one thread. A job runs
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
import selectors
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
        _end_as(STATUS.unpack(status)[0])
    if forwarded:  # the server is gone, and the fork ended by the signal this process was sent
        _end_as(-forwarded[-1])
    print("concrete-study: the server ended before the job's fork reported its status", file=sys.stderr)
    os._exit(1)


def _end_as(code: int) -> None:
    """End this process as the fork ended: `code` is an exit status, or minus a signal's number
    (Python's convention), and then this process is killed by that signal too."""
    if code >= 0:
        os._exit(code)
    with contextlib.suppress(OSError):  # SIGKILL and SIGSTOP have no handler to reset
        signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
    os._exit(128 - code)  # a signal that does not kill by default (SIGCHLD, ...): its shell status


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


def thread_count() -> int:
    """The threads this process runs, native ones included (a preloaded library may start some)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc: Python's own threads are all it can see
        return threading.active_count()


def serve(path: str, parent: int) -> None:
    """Preload, then fork a process for each job that connects, until the parent process exits."""
    environ = dict(os.environ)
    started = time.perf_counter()
    for name in PRELOAD:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # the forks' collections leave the preloaded objects (and their pages) alone
    forks: dict[int, socket.socket] = {}  # each running fork, with its job's connection
    # A fork's end wakes the loop (a byte on this pipe), which reports it: nothing runs in the
    # signal handler itself, so a report never interrupts another.
    ended, wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)  # only now: a job that comes earlier runs in its own process
    listener.listen(64)
    print(f"preloaded {', '.join(PRELOAD)} in {time.perf_counter() - started:.1f} s", flush=True)
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        selector.register(ended, selectors.EVENT_READ)
        while os.getppid() == parent:
            ready = {key.fileobj for key, _ in selector.select(PARENT_POLL_S)}
            if ended in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(ended, 4096)
                _report_ended(forks)
            if listener in ready:
                _take(listener, environ, forks, [ended, wake])
    listener.close()
    with contextlib.suppress(OSError):  # a parent killed without its hooks leaves nothing behind
        os.unlink(path)
        os.rmdir(os.path.dirname(path))


def _take(listener: socket.socket, environ: dict[str, str], forks: dict, pipe: list[int]) -> None:
    """Accept one job: fork it and keep its connection (to report its end), or send it back."""
    try:
        conn, _ = listener.accept()
    except OSError as exc:  # it went away before it was taken
        print(f"a job's connection failed: {exc!r}", flush=True)
        return
    try:
        # The server's own descriptors, which a fork closes: the other jobs' connections among them.
        pid = _serve_one(listener, conn, environ, [*pipe, *(c.fileno() for c in forks.values())])
    except Exception as exc:  # a job that went away while it was being taken: the next one
        print(f"a job's request failed: {exc!r}", flush=True)
        pid = None
    if pid is None:
        conn.close()
    else:
        forks[pid] = conn
        _report_ended(forks)  # one that ended before it was registered


def _serve_one(
    listener: socket.socket, conn: socket.socket, environ: dict[str, str], servers_own: list[int]
) -> int | None:
    """Take one job's request: the pid of the fork that runs it, or None where it runs on its own."""
    header, fds, _, _ = socket.recv_fds(conn, LENGTH.size, 3)
    try:
        request = json.loads(_receive(conn, LENGTH.unpack(header)[0]))
        threads = thread_count()
        reason = refusal(request, environ) or (
            f"the server runs {threads} threads, and a fork would copy only one" if threads > 1 else None
        )
        if reason:
            print(f"{request['argv'][0]}: runs in its own process: {reason}", flush=True)
            conn.sendall(REFUSED)
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            listener.close()
            signal.set_wakeup_fd(-1)
            for fd in servers_own:
                os.close(fd)
            _run_job(conn, fds, request)  # never returns
        print(f"{request['argv'][0]}: pid {pid}", flush=True)
        return pid
    finally:
        for fd in fds:  # the fork has its own copies
            os.close(fd)


def _report_ended(forks: dict[int, socket.socket]) -> None:
    """Tell the job of each fork that has ended how it ended: its exit status, or minus the signal
    that killed it."""
    for pid in list(forks):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, status = pid, 1 << 8  # reaped elsewhere: a failure, never a silent success
        if done:
            conn = forks.pop(pid)
            with contextlib.suppress(OSError):
                conn.sendall(STATUS.pack(os.waitstatus_to_exitcode(status)))
            conn.close()


def _run_job(conn: socket.socket, fds: list[int], request: dict) -> None:
    """In the fork: become the job's process, run its script and exit with its status (which the
    server reports to the job's process)."""
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
