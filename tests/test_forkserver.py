"""The fork server (forkserver.py): a real server, real job processes, real signals.

A job here is a small script that calls `delegate()` and then says where it ran: in a fork of the
server, torch is already imported when its own code starts; in a process of its own, it is not.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ENV

from concrete_study.forkserver import SOCKET_VARIABLE, THREAD_VARIABLES, Server
from concrete_study.sources import library_sources

JOB = textwrap.dedent(
    """
    import os, sys, time
    from concrete_study.forkserver import SOCKET_VARIABLE, delegate

    delegate()
    import json
    from pathlib import Path

    warm = "torch" in sys.modules
    print(json.dumps({"warm": warm, "pid": os.getpid(), "cwd": os.getcwd(), "argv": sys.argv[1:],
                      "variable": os.environ.get("JOB_VARIABLE"), "server": os.environ.get(SOCKET_VARIABLE)}))
    sys.stdout.flush()
    action = sys.argv[1]
    if action == "fail":
        raise ValueError("a job's own error")
    if action == "wait":
        Path(sys.argv[2]).write_text(str(os.getpid()))
        time.sleep(60)
    if action == "measure":  # 400 MB touched and a second of CPU, measured as the workflow's jobs are
        from concrete_study.logs import measured

        with measured(sys.argv[2]):
            block = bytearray(400 * 1024 * 1024)
            block[::4096] = b"x" * len(block[::4096])
            end = time.process_time() + 1
            while time.process_time() < end:
                pass
        sys.exit(0)
    sys.exit(int(action))
    """
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server started as the workflow's onstart hook starts it, and ready."""
    log = tmp_path_factory.mktemp("server") / "forkserver.log"
    running = Server()
    running.start(1, log)
    path = os.environ[SOCKET_VARIABLE]
    deadline = time.time() + 120
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.1)
    assert os.path.exists(path), log.read_text()
    yield running, log
    running.stop()
    assert SOCKET_VARIABLE not in os.environ and not os.path.exists(os.path.dirname(path))


def job_env(**extra: str) -> dict[str, str]:
    """A job's environment as Snakemake gives it: Snakemake's, the thread counts of one thread."""
    return {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1"), **extra}


def start_job(tmp_path: Path, *args: str, env=None) -> subprocess.Popen:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env=env or job_env(JOB_VARIABLE="the job's"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_job(tmp_path: Path, *args: str, env=None) -> tuple[int, dict, str]:
    proc = start_job(tmp_path, *args, env=env)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, json.loads(out.splitlines()[0]), err


def test_a_job_runs_in_a_fork_with_its_own_streams_directory_arguments_and_environment(server, tmp_path):
    code, said, err = run_job(tmp_path, "3")
    assert code == 3, err
    assert said["warm"]
    assert said["cwd"] == str(tmp_path) and said["argv"] == ["3"]
    assert said["variable"] == "the job's"
    assert said["server"] is None  # its own subprocesses start cold


def test_a_job_s_error_is_its_traceback_and_status_1(server, tmp_path):
    code, said, err = run_job(tmp_path, "fail")
    assert said["warm"] and code == 1
    assert "Traceback" in err and "ValueError: a job's own error" in err


def test_a_job_whose_libraries_would_load_otherwise_runs_in_its_own_process(server, tmp_path):
    running, log = server
    for extra in ({"OPENBLAS_CORETYPE": "SkylakeX"}, {"OMP_NUM_THREADS": "2"}):
        code, said, err = run_job(tmp_path, "0", env=job_env(**extra))
        assert code == 0 and not said["warm"], err
    text = log.read_text()
    assert "runs in its own process: OPENBLAS_CORETYPE='SkylakeX' where the server has 'Haswell'" in text
    assert "runs in its own process: OMP_NUM_THREADS='2' where the server has '1'" in text


def test_under_slurm_or_without_a_server_a_job_runs_in_its_own_process(server, tmp_path):
    for env in (job_env(SLURM_JOB_ID="7"), job_env(**{SOCKET_VARIABLE: str(tmp_path / "none")})):
        code, said, _ = run_job(tmp_path, "0", env=env)
        assert code == 0 and not said["warm"]


def test_a_job_that_leaves_in_the_middle_of_its_request_leaves_the_server_serving(server, tmp_path):
    for request in (b"", b"\0\0\0\x09{broken"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(os.environ[SOCKET_VARIABLE])
            conn.sendall(request)
    code, said, _ = run_job(tmp_path, "0")
    assert code == 0 and said["warm"]


def wait_for(path: Path) -> int:
    deadline = time.time() + 60
    while not (path.exists() and path.read_text()) and time.time() < deadline:
        time.sleep(0.05)
    return int(path.read_text())


def gone(pid: int, within: float = 10) -> bool:
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_fork_ends_with_its_job_s_process(server, tmp_path, sig):
    """Snakemake stops a job by signalling its process: the fork ends too, and a SIGTERM is the
    job's own end, as if it had run in that process."""
    pid_file = tmp_path / "pid"
    proc = start_job(tmp_path, "wait", str(pid_file))
    fork = wait_for(pid_file)
    assert fork != proc.pid
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert proc.returncode == -sig
    assert gone(fork)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_a_fork_killed_by_a_signal_ends_its_job_s_process_with_it(server, tmp_path, sig):
    """A fork killed by the kernel (memory, a crash) cannot report its own end: the server reports
    it, and Snakemake sees what it would for a job of its own, a status of -9 (shell: 137)."""
    pid_file = tmp_path / "pid"
    proc = start_job(tmp_path, "wait", str(pid_file))
    fork = wait_for(pid_file)
    os.kill(fork, sig)
    proc.wait(timeout=30)
    assert proc.returncode == -sig


def test_a_forked_job_measures_its_fork_not_the_process_that_waits(server, tmp_path):
    measured = tmp_path / "benchmark.tsv"
    code, said, err = run_job(tmp_path, "measure", str(measured))
    assert code == 0 and said["warm"], err
    header, values = (line.split("\t") for line in measured.read_text().splitlines())
    assert header[:3] == ["s", "h:m:s", "max_rss"] and header[-1] == "cpu_time"
    row = dict(zip(header, values, strict=True))
    assert float(row["max_rss"]) > 400  # the waiting process holds a few tens of MB
    assert 1 <= float(row["cpu_time"]) <= float(row["s"]) + 0.5


def test_a_server_that_runs_more_than_one_thread_forks_no_job(tmp_path):
    """A fork copies only the thread that forks: a library's thread pool (OpenBLAS's, with two
    threads) would be missing in it. Such a server says so, and each job runs on its own."""
    log = tmp_path / "forkserver.log"
    running = Server()
    previous = os.environ.get(SOCKET_VARIABLE)
    running.start(2, log)
    try:
        path = os.environ[SOCKET_VARIABLE]
        deadline = time.time() + 120
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.1)
        env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "2")}
        code, said, err = run_job(tmp_path, "0", env=env)
        assert code == 0 and not said["warm"], err
        refused = "runs in its own process: the server runs 2 threads, and a fork would copy only one"
        assert refused in log.read_text()
    finally:
        running.stop()
        if previous:
            os.environ[SOCKET_VARIABLE] = previous


def test_the_server_stops_when_its_parent_is_gone(tmp_path):
    script = "from concrete_study.forkserver import Server; import os, time\n"
    script += f"Server().start(1, {str(tmp_path / 'log')!r}); print(os.environ[{SOCKET_VARIABLE!r}])"
    socket_path = subprocess.run(
        [sys.executable, "-c", script], env=ENV, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert gone_path(Path(socket_path).parent, within=120), (tmp_path / "log").read_text()


def gone_path(path: Path, within: float) -> bool:
    """Wait for the server to bind, notice its parent's end, and clear its socket's directory."""
    deadline = time.time() + within
    while path.exists() and time.time() < deadline:
        time.sleep(0.2)
    return not path.exists()


def test_the_server_is_no_input_of_a_rule():
    """How a job starts never changes what it computes: an edit of the server reruns nothing."""
    root = Path(__file__).resolve().parents[1]
    for script in (root / "scripts").glob("*.py"):
        assert "from concrete_study.forkserver import delegate" in script.read_text(), script
        assert "src/concrete_study/forkserver.py" not in library_sources(script, root)
