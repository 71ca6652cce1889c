"""The DVC side with the real dvc: repro, status, metrics, params, push and pull, experiments,
and the study shared with `make push` / `make pull` through a folder and an SSH remote."""

import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import BIN, ENV, ROOT, SMOKE, comparable_results, copy_repo, planned_jobs, snakemake

pytestmark = pytest.mark.slow


def run(cwd, *cmd, check=True):
    env = {**ENV, "PYTHONPATH": str(cwd / "src"), "PATH": f"{BIN}:{ENV['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def dvc(cwd, *args, check=True):
    return run(cwd, str(BIN / "dvc"), *args, check=check)


def git(cwd, *args):
    return run(cwd, "git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args)


@pytest.fixture
def dvc_repo(smoke_copy):
    """The finished smoke study as a git repository whose DVC stage runs the smoke config."""
    stage = smoke_copy / "dvc.yaml"
    text = stage.read_text()
    text = text.replace(
        "cmd: snakemake --cores all", "cmd: snakemake --cores 2 --configfile config/smoke.yaml"
    )
    text = text.replace("- config/config.yaml:", "- config/smoke.yaml:")
    text = text.replace("- results/", "- results/smoke/")  # the smoke study's folder
    stage.write_text(text)
    # The files the stage keeps in git (cache: false), as .gitignore lets the main study's in.
    ignore = smoke_copy / ".gitignore"
    lines = ignore.read_text().splitlines()
    smoke = [
        line.replace("/results/", "/results/smoke/")
        for line in lines
        if line.lstrip("!").startswith("/results/")
    ]
    kept = [line for line in smoke if line != "/results/smoke/*"]
    ignore.write_text("\n".join([*lines, "!/results/smoke/", "/results/smoke/*", *kept]) + "\n")
    git(smoke_copy, "init", "-q")
    git(smoke_copy, "add", "-A")
    git(smoke_copy, "commit", "-qm", "study")
    dvc(smoke_copy, "commit", "--force", "data.dvc")  # the copied dataset into the cache
    return smoke_copy


def test_repro_status_metrics_push_pull_and_params(dvc_repo, tmp_path):
    repo = dvc_repo
    dvc(repo, "repro")
    assert (repo / "results" / "smoke" / "final" / "model.pt").is_file()
    assert "up to date" in dvc(repo, "status")
    again = dvc(repo, "repro")
    assert "didn't change" in again and "Running stage" not in again
    assert "final.test_rmse" in dvc(repo, "metrics", "show")

    remote = tmp_path / "remote"
    dvc(repo, "remote", "add", "--local", "-d", "scratch", str(remote))
    dvc(repo, "push")
    model = repo / "results" / "smoke" / "final" / "model.pt"
    raw = repo / "data" / "Concrete_Data.xls"
    before = {p: p.read_bytes() for p in (model, raw)}
    run(repo, "rm", "-rf", ".dvc/cache", "data", str(model))
    dvc(repo, "pull")
    assert {p: p.read_bytes() for p in (model, raw)} == before

    # Another clone of the repository gets the same model and data from the remote.
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "reproduced")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    dvc(clone, "remote", "add", "--local", "-d", "scratch", str(remote))
    dvc(clone, "pull")
    assert (clone / "results/smoke/final/model.pt").read_bytes() == before[model]
    assert (clone / "data/Concrete_Data.xls").read_bytes() == before[raw]
    assert "up to date" in dvc(clone, "status")
    # The teammate's side: the runs, metrics and a working model without training anything.
    assert (clone / "results/smoke/runs").is_dir() and not (clone / "results/smoke/logs").exists()
    shown = dvc(clone, "metrics", "show").splitlines()
    # One line of headline numbers: the final model, the benchmark, the intervals.
    header, values = shown[0].split(), shown[1].split()
    assert header[0] == "Path" and {"final.test_rmse", "benchmark.rmse_mean"} <= set(header)
    assert len(header) == len(values) == 16 and values[0] == "results/smoke/summary.json"
    mixtures = clone / "mixtures.csv"
    pd.read_csv(repo / "results" / "smoke" / "data" / "clean.csv").head(4).drop(columns=["strength"]).to_csv(
        mixtures, index=False
    )
    scored = run(
        clone,
        str(BIN / "concrete-study"),
        "predict",
        "--model",
        "results/smoke/final/model.pt",
        "mixtures.csv",
    )
    assert "lower_strength" in scored and len(scored.strip().splitlines()) == 5

    config = yaml.safe_load((repo / "config" / "smoke.yaml").read_text())
    config["final"]["importance_repeats"] = 3
    (repo / "config" / "smoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    status = dvc(repo, "status")
    assert "modified:" in status and "config/smoke.yaml" in status
    assert "final.importance_repeats" in dvc(repo, "params", "diff")


def test_exp_run_sets_a_param_and_reruns(dvc_repo):
    dvc(dvc_repo, "repro")
    git(dvc_repo, "add", "-A")
    git(dvc_repo, "commit", "-qm", "reproduced")
    # interval_level takes its default (0.9) in the smoke study: `+` adds the key.
    out = dvc(dvc_repo, "exp", "run", "-S", "config/smoke.yaml:+interval_level=0.8")
    assert "Running stage 'study'" in out
    assert "interval_level: 0.8" in (dvc_repo / "config" / "smoke.yaml").read_text()
    shown = json.loads(run(dvc_repo, str(BIN / "dvc"), "exp", "show", "--json"))
    rows = [
        (
            exp["data"]["params"]["config/smoke.yaml"]["data"].get("interval_level", "default"),
            exp["data"]["metrics"]["results/smoke/summary.json"]["data"]["interval"]["level"],
            exp["data"]["metrics"]["results/smoke/summary.json"]["data"]["interval"]["benchmark_width_mean"],
        )
        for commit in shown
        for exp in [commit, *[e for ex in commit.get("experiments") or [] for e in ex["revs"]]]
    ]
    # The committed study (0.9) and the experiment (0.8): the changed metric, read back.
    assert {(param, level) for param, level, _ in rows} == {("default", 0.9), (0.8, 0.8)}
    widths = {level: width for _, level, width in rows}
    assert widths[0.8] < widths[0.9]


def test_ci_lock_check_names_what_is_stale(tmp_path):
    """`.ci/check_lock.py` on the committed dvc.lock: current as committed; a code edit without
    a new lock is one line that says what to do; an out that differs is named, with how far it moved."""
    repo = copy_repo(tmp_path / "repo")
    for kept in ("results/final/metrics.json", "results/benchmark/per_split.csv"):  # in git, as here
        (repo / kept).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / kept, repo / kept)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "as committed")
    check = [str(BIN / "python"), ".ci/check_lock.py"]
    assert "dependencies current" in run(repo, *check, "deps")
    engine = repo / "src" / "concrete_study" / "engine.py"
    engine.write_text(engine.read_text() + "\n# an edit\n")
    proc = subprocess.run([*check, "deps"], cwd=repo, capture_output=True, text=True, env=ENV)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "dvc.lock is not current: run `dvc repro` and commit dvc.lock: "
        "study: changed deps src/concrete_study: modified"
    ]
    # After a run: every out of the lock must be there with its md5, and one that moved says by how much.
    metrics = json.loads((ROOT / "results" / "final" / "metrics.json").read_text())
    old_mse, metrics["test_mse"] = metrics["test_mse"], metrics["test_mse"] + 0.5
    (repo / "results" / "final" / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    per_split = repo / "results" / "benchmark" / "per_split.csv"
    rows = [line.split(",") for line in per_split.read_text().splitlines()]
    column = rows[0].index("rmse")
    rows[4][column] = repr(float(rows[4][column]) + 0.25)
    per_split.write_text("".join(",".join(row) + "\n" for row in rows))
    proc = subprocess.run([*check, "outs"], cwd=repo, capture_output=True, text=True, env=ENV)
    assert proc.returncode == 1
    assert "the run did not reproduce dvc.lock: study: results/final/model.pt is missing" in proc.stderr
    assert "study: results/final/metrics.json has md5 " in proc.stderr
    lines = proc.stderr.splitlines()
    moved = f"  test_mse: {old_mse!r} -> {old_mse + 0.5!r} (+0.5, {0.5 / old_mse:+.2%})"
    assert [line for line in lines if " -> " in line] == [moved]  # the one metric that moved
    assert "  1 cells differ; the largest change is 0.25 in column 'rmse'" in lines
    assert "moved because of the machine, not a change" in proc.stderr
    # The committed lock is the reference, even where `dvc commit` rewrote the working copy.
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for out in lock["stages"]["study"]["outs"]:
        if out["path"] == "results/final/metrics.json":
            out["md5"] = hashlib.md5((repo / out["path"]).read_bytes()).hexdigest()
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    proc = subprocess.run([*check, "outs"], cwd=repo, capture_output=True, text=True, env=ENV)
    assert "study: results/final/metrics.json has md5 " in proc.stderr


def make(cwd, target, check=True):
    """`make <target>` with this environment as the clone's set-up (its venv is this one)."""
    venv = BIN.parent
    return run(
        cwd, "make", "--no-print-directory", "-o", f"{venv}/.installed", f"VENV={venv}", target, check=check
    )


def edit_config(repo):
    """One more learning rate for the smoke study's optimizers."""
    path = repo / "config" / "smoke.yaml"
    path.write_text(path.read_text().replace("lr: [1.0e-2]\n", "lr: [1.0e-2, 3.0e-3]\n", 1))


def edit_library(repo):
    path = repo / "src" / "concrete_study" / "tables.py"
    path.write_text(path.read_text() + "\n# an edit\n")


def pushed_study(repo, url, local_options=()):
    """The smoke study recorded in dvc.lock, committed with the team's remote, and pushed."""
    dvc(repo, "commit", "--force")  # what `make run` does after snakemake
    dvc(repo, "remote", "add", "-d", "team", url)
    for option in local_options:
        dvc(repo, "remote", "modify", "--local", "team", *option)
    assert "dvc.lock is not committed" in make(repo, "push", check=False)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the study, pinned")
    assert "pushed the data and every result to team" in make(repo, "push")
    return repo


def pulled_clone(repo, dest, local_options=()):
    """A fresh clone (no results, no .snakemake/, no cache) that runs `make pull`."""
    git(dest.parent, "clone", "-q", str(repo), str(dest))
    for option in local_options:
        dvc(dest, "remote", "modify", "--local", "team", *option)
    return dest, make(dest, "pull", check=False)


def assert_same_study(pushing, pulled):
    """The pulled clone is the one that pushed: every result, nothing to do, a clean `dvc status`,
    and one config edit and one library edit plan the same jobs in both."""
    assert comparable_results(pulled) == comparable_results(pushing)
    assert len(comparable_results(pulled)) > 100
    assert "Nothing to be done" in snakemake(pulled, *SMOKE, "-n").stdout
    assert "Data and pipelines are up to date" in dvc(pulled, "status")
    configs = {r: (r / "config" / "smoke.yaml").read_text() for r in (pushing, pulled)}
    for repo in (pushing, pulled):
        edit_config(repo)
    plans = [planned_jobs(repo) for repo in (pushing, pulled)]
    assert plans[0] == plans[1] and plans[0]["train"] == 2, plans  # the new learning rate's runs
    for repo, text in configs.items():
        (repo / "config" / "smoke.yaml").write_text(text)
        edit_library(repo)
    plans = [planned_jobs(repo) for repo in (pushing, pulled)]
    assert plans[0] == plans[1] and "experiment_table" in plans[0] and "train" not in plans[0], plans


def test_make_pull_gives_a_fresh_clone_the_whole_study(dvc_repo, tmp_path):
    pushing = dvc_repo
    pushed_study(pushing, str(tmp_path / "remote"))
    # A clone whose lock does not record its results is not pushed.
    table = pushing / "results" / "smoke" / "tables" / "optimizers.csv"
    kept = table.read_bytes()
    table.write_bytes(kept + b"\n")
    refused = make(pushing, "push", check=False)
    assert "dvc.lock does not record this checkout" in refused and "results/smoke/tables: modified" in refused
    table.write_bytes(kept)

    clone, out = pulled_clone(pushing, tmp_path / "clone")
    assert "pulled the data and every result from team: nothing to rerun" in out
    assert_same_study(pushing, clone)
    # Its report has every table, and says that this clone trained none of the sweeps' runs.
    snakemake(clone, *SMOKE, "--report", "report.html")
    html = (clone / "report.html").read_text(errors="replace")
    sweeps = len(list((pushing / "results" / "smoke" / "logs" / "tables").glob("*.time.csv")))
    assert (
        sweeps > 3 and html.count("No seconds per model here: this clone did not train these runs") == sweeps
    )


VICTIM = "results/smoke/runs/h16-8_adam_lr0.01_bs32_e12/history.csv"


def pushed_with_a_damaged_object(repo, remote):
    """The study pushed, then one object in the remote damaged: (the clone, its file, its md5)."""
    pushing = pushed_study(repo, str(remote))
    md5 = hashlib.md5((pushing / VICTIM).read_bytes()).hexdigest()
    damaged = remote / "files" / "md5" / md5[:2] / md5[2:]
    damaged.chmod(0o644)
    damaged.write_bytes(damaged.read_bytes().replace(b"\n2,", b"\n2,1", 1))
    return pushing, VICTIM, md5


def test_make_pull_refuses_a_damaged_object_and_rebuilds_only_it(dvc_repo, tmp_path):
    pushing, victim, md5 = pushed_with_a_damaged_object(dvc_repo, tmp_path / "remote")

    clone, out = pulled_clone(pushing, tmp_path / "clone")
    assert f"1 file(s) from team refused, not taken as results: {victim} (its bytes are not" in out
    assert not (clone / victim).exists()
    assert not (clone / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).exists()
    # Everything else arrived; the one job that made it, and the table that reads it, rerun.
    assert planned_jobs(clone) == {"train": 1, "experiment_table": 1, "all": 1}


def shared_cache_clone(pushing, tmp_path, link):
    """A clone set up as DVC's guide for shared servers and clusters says: the cache in a shared
    folder (`dvc cache dir`), group permissions, and links into it instead of copies."""
    clone, shared = tmp_path / "clone", tmp_path / "shared-cache"
    git(tmp_path, "clone", "-q", str(pushing), str(clone))
    dvc(clone, "cache", "dir", "--local", str(shared))
    dvc(clone, "config", "--local", "cache.shared", "group")
    dvc(clone, "config", "--local", "cache.type", link)
    return clone, shared


def test_make_pull_into_a_shared_cache_of_symlinks(dvc_repo, tmp_path):
    pushing = pushed_study(dvc_repo, str(tmp_path / "remote"))
    clone, shared = shared_cache_clone(pushing, tmp_path, "symlink")
    out = make(clone, "pull", check=False)
    assert "pulled the data and every result from team: nothing to rerun" in out, out
    assert_same_study(pushing, clone)
    history = clone / "results/smoke/runs/h16-8_adam_lr0.01_bs32_e12/history.csv"
    md5 = hashlib.md5(history.read_bytes()).hexdigest()
    assert history.is_symlink() and history.resolve() == shared / "files" / "md5" / md5[:2] / md5[2:]


def test_a_damaged_object_costs_only_itself_with_a_shared_cache_of_hardlinks(dvc_repo, tmp_path):
    pushing, victim, md5 = pushed_with_a_damaged_object(dvc_repo, tmp_path / "remote")
    clone, shared = shared_cache_clone(pushing, tmp_path, "hardlink")
    out = make(clone, "pull", check=False)
    assert f"1 file(s) from team refused, not taken as results: {victim} (its bytes are not" in out
    assert not (clone / victim).exists() and not (shared / "files" / "md5" / md5[:2] / md5[2:]).exists()
    raw = clone / "data" / "Concrete_Data.xls"  # the rest arrived, as links into the shared cache
    assert (
        raw.stat().st_ino
        == (shared / "files" / "md5" / "35" / "5e7d89a7e3fda5ba97f702bd94882b").stat().st_ino
    )
    assert planned_jobs(clone) == {"train": 1, "experiment_table": 1, "all": 1}


SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    """A real OpenSSH server on localhost, with a host key and a client key of its own; stopped by
    its process id."""
    if not SSHD.exists():
        if os.environ.get("CI"):
            pytest.fail("openssh-server is not installed (.ci/run installs it)")
        pytest.skip("openssh-server is not installed: apt-get install openssh-server")
    keys = tmp_path / "ssh"
    keys.mkdir()
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    shutil.copy(keys / "client.pub", keys / "authorized_keys")
    Path("/run/sshd").mkdir(exist_ok=True)  # the server's privilege separation directory
    port = free_port()
    config = keys / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPidFile {keys / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n"
    )
    log = open(keys / "sshd.log", "w")
    server = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=log)
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None:
                pytest.fail(f"sshd stopped: {(keys / 'sshd.log').read_text()}")
            time.sleep(0.1)
        yield {
            "url": f"ssh://{getpass.getuser()}@127.0.0.1:{port}{tmp_path / 'remote'}",
            "key": keys / "client",
        }
    finally:
        os.kill(server.pid, 15)
        server.wait(timeout=10)
        log.close()


def test_make_push_and_pull_through_an_ssh_remote(dvc_repo, tmp_path, sshd):
    key = [("keyfile", str(sshd["key"]))]
    pushing = pushed_study(dvc_repo, sshd["url"], key)
    assert (tmp_path / "remote" / "files" / "md5").is_dir()  # the objects are on the server's disk
    clone, out = pulled_clone(pushing, tmp_path / "clone", key)
    assert "pulled the data and every result from team: nothing to rerun" in out
    assert_same_study(pushing, clone)
