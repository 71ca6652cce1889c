#!/usr/bin/env bash
# The smoke study on a real one-node SLURM cluster, compared with a local run of the same config.
#
# Installs slurm-wlm and munge from Debian where absent, writes /etc/slurm/slurm.conf (the
# executor plugin's job step drops SLURM_CONF, so the file must be there; memory limits enforced),
# starts munged, slurmctld and slurmd, runs the workflow with --workflow-profile profiles/slurm
# (grouped jobs, retries) with the final model's first attempt given too little memory, checks
# that every training job ran in a grouped SLURM job and that the final model was killed for
# memory and retried with more, compares the outputs with a local run, then stops the daemons by
# their process ids and restores /etc/slurm/slurm.conf.
#
# It changes system files, so it runs only in CI or when asked: CONCRETE_STUDY_SLURM_TEST=1.
set -euo pipefail

if [ "${CI:-}" != "true" ] && [ "${CONCRETE_STUDY_SLURM_TEST:-}" != "1" ]; then
  echo "tests/cluster/slurm.sh installs packages and writes /etc/slurm/slurm.conf; it runs in CI" \
       "only. To run it here anyway: CONCRETE_STUDY_SLURM_TEST=1 make slurm-test" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "tests/cluster/slurm.sh must run as root (it starts slurmctld, slurmd and munged)" >&2
  exit 2
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/.venv/bin"
export DVC_NO_ANALYTICS=1 PATH="$BIN:$PATH"
start=$(date +%s)
WORK=$(mktemp -d /tmp/concrete-slurm.XXXXXX)
CONF=/etc/slurm/slurm.conf
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  if [ -f "$WORK/slurm.conf.orig" ]; then cp "$WORK/slurm.conf.orig" "$CONF"; else rm -f "$CONF"; fi
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 1" INT TERM

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "== installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

echo "== one-node cluster"
mkdir -p /etc/slurm "$WORK/spool/ctld" "$WORK/spool/d" /run/munge
[ -f "$CONF" ] && cp "$CONF" "$WORK/slurm.conf.orig"
node=$(slurmd -C | head -1)
cat > "$CONF" <<CONF
ClusterName=concrete-test
SlurmctldHost=$(hostname -s)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
StateSaveLocation=$WORK/spool/ctld
SlurmdSpoolDir=$WORK/spool/d
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
$node
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

[ -f /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
# SLURM's auth plugin talks to munged on its default socket, /run/munge/munge.socket.2.
if ! pgrep -x munged >/dev/null; then
  munged --force --pid-file "$WORK/munged.pid"
  for _ in $(seq 50); do [ -f "$WORK/munged.pid" ] && break; sleep 0.1; done
  PIDS+=("$(cat "$WORK/munged.pid")")
fi
munge -n | unmunge >/dev/null || { echo "munge does not work" >&2; exit 1; }
slurmctld -D >/dev/null 2>&1 &
PIDS+=($!)
slurmd -D >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 60); do
  state=$(sinfo -h -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 1
done
[ "$state" = idle ] || { echo "node did not become idle (state '$state')" >&2; cat "$WORK"/slurm*.log >&2; exit 1; }
echo "node idle after $(( $(date +%s) - start )) s"

echo "== smoke study on SLURM and locally"
copy() {
  mkdir -p "$1/data"
  (cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$1")
  cp -r "$ROOT/data/." "$1/data/"  # the dataset and the benchmark splits
}
copy "$WORK/slurm"
copy "$WORK/local"
slurm_start=$(date +%s)
# The final model asks for 100 MB, then 400, then 1600 (the profile's two retries): the first
# attempts are killed for memory.
(cd "$WORK/slurm" && PYTHONPATH="$WORK/slurm/src" snakemake --workflow-profile profiles/slurm \
  --configfile config/smoke.yaml --jobs 4 --set-resources 'final_model:mem_mb=100*4**(attempt-1)' \
  > "$WORK/slurm-run.log" 2>&1) \
  || { tail -50 "$WORK/slurm-run.log"; cat "$WORK"/slurm*.log | tail -20; exit 1; }
slurm_secs=$(( $(date +%s) - slurm_start ))
(cd "$WORK/local" && PYTHONPATH="$WORK/local/src" snakemake --cores 2 --configfile config/smoke.yaml \
  > "$WORK/local-run.log" 2>&1) || { tail -50 "$WORK/local-run.log"; exit 1; }

echo "== checks"
python3=$BIN/python
"$python3" - "$WORK" <<'PY'
import re, subprocess, sys
from pathlib import Path

work = Path(sys.argv[1])
sys.path.insert(0, str(work / "slurm" / "tests"))
from conftest import comparable_results  # noqa: E402

runs = sorted(p.name for p in (work / "slurm" / "results" / "smoke" / "runs").iterdir())
log = (work / "slurm-run.log").read_text()
# (Snakemake's job, SLURM's job id, the SLURM logs' folder, the kind: group_<name>_<rule> or rule_<rule>)
submitted = re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S*/slurm_logs)/(\w+)/\S+\)", log)


def job(slurm_id: str) -> tuple[str, int]:
    """A SLURM job's state and its memory (MB)."""
    info = subprocess.run(["scontrol", "show", "job", slurm_id], capture_output=True, text=True).stdout
    return re.search(r"JobState=(\w+)", info).group(1), int(re.search(r"mem=(\d+)M", info).group(1))


training = [i for _, i, _, kind in submitted if kind == "group_training_train"]
assert len(training) == -(-len(runs) // 4), f"{len(runs)} training jobs, {len(training)} grouped SLURM jobs"
assert all(job(i)[0] == "COMPLETED" for i in training), [job(i) for i in training]
assert not re.search(r"Error in rule train:", log), "a training job failed"
jobs = {name for name, _, _, _ in submitted}
# Besides the training groups: one grouped job each of the benchmark's inner and retrain jobs, the
# peer's job and the final model's.
assert len(jobs) <= len(training) + 4, f"{len(jobs)} SLURM jobs for the smoke study (grouped: {len(training) + 4})"
final = [(i, folder) for _, i, folder, kind in submitted if kind == "rule_final_model"]
states = [job(i) for i, _ in final]
assert [s for s, _ in states] == ["FAILED"] * (len(final) - 1) + ["COMPLETED"] and len(final) >= 2, states
assert [m for _, m in states] == sorted({m for _, m in states}), f"memory not growing: {states}"
for i, folder in final[:-1]:
    text = Path(folder, "rule_final_model", f"{i}.log").read_text()
    assert "Exceeded job memory limit" in text, text[-500:]
slurm, local = comparable_results(work / "slurm"), comparable_results(work / "local")
assert slurm.keys() == local.keys(), set(slurm) ^ set(local)
differ = [k for k in slurm if slurm[k] != local[k]]
assert not differ, f"SLURM and local results differ: {differ}"
print(f"{len(runs)} training jobs ran in {len(training)} grouped SLURM jobs, all COMPLETED; {len(jobs)} SLURM "
      f"jobs in all; the final model killed for memory at {', '.join(f'{m} MB' for _, m in states[:-1])} "
      f"and completed at {states[-1][1]} MB; {len(slurm)} result files equal the local run's")
PY
echo "SLURM run of the smoke study: ${slurm_secs} s; whole test: $(( $(date +%s) - start )) s"
echo "1 passed, 0 failed"
