#!/usr/bin/env bash
# The quickstart as a 4-task Slurm job array on a real (single-node) Slurm:
# installs slurm-wlm and munge when they are missing, starts munged,
# slurmctld and slurmd with a minimal slurm.conf, submits the script
# `recsweep plan --slurm` prints, waits, and checks that every trial ran
# exactly once and that the merged report equals a single-machine run's
# (timings masked). Where Slurm cannot be installed or started, it prints
# `SKIPPED: <reason>` and exits 0; a wrong result exits 1.
#
#   RECSWEEP_BIN=target/release/recsweep bash tests/slurm.sh
source "$(dirname "$0")/kit.sh"
cleanup() {
  for pid in "$work"/*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; done
  pkill -f "munged.*$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  [ "$(id -u)" = 0 ] || skip "slurm-wlm is not installed and this is not root"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends slurm-wlm munge) >"$work/apt.log" 2>&1 ||
    skip "cannot install slurm-wlm and munge: $(tail -1 "$work/apt.log")"
fi

# munge: a key of our own, a socket in the work folder.
mkdir -p "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 700 "$work/munge"
chmod 400 "$work/munge/munge.key"
socket="$work/munge/munge.socket"
munged --force --key-file="$work/munge/munge.key" --socket="$socket" \
  --pid-file="$work/munged.pid" --log-file="$work/munged.log" --seed-file="$work/munge/seed" \
  >/dev/null 2>&1 || skip "munged does not start: $(tail -1 "$work/munged.log" 2>/dev/null)"

host=$(hostname -s)
cpus=$(nproc)
mkdir -p "$work/state" "$work/spool"
cat >"$work/slurm.conf" <<EOF
ClusterName=recsweep
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"
slurmctld >/dev/null 2>&1 || skip "slurmctld does not start: $(tail -1 "$work/slurmctld.log" 2>/dev/null)"
slurmd >/dev/null 2>&1 || skip "slurmd does not start: $(tail -1 "$work/slurmd.log" 2>/dev/null)"
for _ in $(seq 60); do
  state=$(sinfo -h -o %t 2>/dev/null | head -1)
  [ "$state" = idle ] && break
  sleep 1
done
[ "$state" = idle ] || skip "the node did not become idle (state: ${state:-none})"

# The quickstart with its report in the work folder, submitted as 4 shards.
sed "s|path: reports/quickstart.md|path: $work/sharded.md|" "$root/experiments/quickstart.yaml" >"$work/spec.yaml"
mkdir -p "$work/bin" && ln -s "$bin" "$work/bin/recsweep"
export PATH="$work/bin:$PATH"
# Jobs run (and log) in the folder plan ran in.
(cd "$work" && "$bin" plan spec.yaml --slurm --shards 4 --results results >submit.sh) ||
  fail "recsweep plan failed"
(cd "$work" && bash submit.sh) >"$work/submit.log" 2>&1 || fail "submitting failed: $(cat "$work/submit.log")"
for _ in $(seq 600); do
  [ -z "$(squeue -h 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h)" ] || fail "jobs still queued after 10 minutes: $(squeue)"

# Every trial ran exactly once: the tasks' "N trials run" add up to the
# expansion, and the report job found them all.
total=$("$bin" validate "$work/spec.yaml" 2>/dev/null | awk '/^[0-9]+ trials$/ {print $1}')
ran=$(cat "$work"/recsweep-quickstart-*_*.log | awk '/ trials run, / {s += $1} END {print s + 0}')
[ "$ran" = "$total" ] || fail "the 4 tasks ran $ran trials, the sweep has $total"
ls "$work"/recsweep-quickstart-report-*.log >/dev/null 2>&1 || fail "the dependent report job did not run"

# The merged report equals a single-machine run's, timings masked.
"$bin" run "$work/spec.yaml" --quiet --results "$work/single" >/dev/null 2>&1 || fail "single run failed"
mask() {
  python3 - "$1" <<'EOF'
import json, pathlib, sys
for path in pathlib.Path(sys.argv[1]).glob("trials/*/trial.json"):
    record = json.loads(path.read_text())
    if "fit_seconds" in record:
        record["fit_seconds"] = 0.0
        record["score_micros_per_user"] = 1.0
        if "serving" in record:
            record["serving"].update(median_micros=1.0, min_micros=1.0, max_micros=1.0)
    stages = record.get("stages")
    if stages:
        stages["retriever_micros_per_user"] = 1.0
        if stages.get("index"):
            stages["index"]["build_seconds"] = 0.0
            stages["index"]["queries_per_second"] = 1.0
    path.write_text(json.dumps(record))
EOF
}
mask "$work/results/quickstart" && mask "$work/single/quickstart"
mkdir -p "$work/a" "$work/b"
"$bin" report "$work/results/quickstart" -o "$work/a/report.md" >/dev/null || fail "report of the shards failed"
"$bin" report "$work/single/quickstart" -o "$work/b/report.md" >/dev/null || fail "report of the single run failed"
# The reproducibility table names the thread count of the last run only.
diff <(grep -v "worker threads" "$work/a/report.md") <(grep -v "worker threads" "$work/b/report.md") >"$work/diff.log" ||
  fail "the merged report differs from a single run's"
echo "slurm: $total trials in 4 array tasks on $host, each run once; merged report equals a single run's"
