#!/usr/bin/env bash
# `recsweep export mlflow` against a real MLflow tracking server: installs
# MLflow from the Python package index into a cached virtual environment
# when `mlflow` is missing, starts `mlflow server` on a free local port with
# a SQLite store and an artifact folder in a temporary folder, runs half of
# a small sweep (a shard) and exports it, runs the rest and exports again,
# then reads every run back through the REST API (tests/mlflow_check.py)
# and compares params, metrics, nesting and artifacts with the results
# folder: no trial missing, none twice, a half-written run of an
# interrupted export replaced. It also checks that a deleted
# experiment is refused with exit 2. Where MLflow cannot be installed or
# started it prints `SKIPPED: <reason>` and exits 0; a wrong result exits 1.
#
#   RECSWEEP_BIN=target/release/recsweep bash tests/mlflow.sh
source "$(dirname "$0")/kit.sh"
cleanup() {
  [ -f "$work/server.pid" ] && kill -- "-$(cat "$work/server.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# MLflow: the one on PATH, else a virtual environment kept outside the
# clone (so CI installs it once per machine).
if command -v mlflow >/dev/null && python3 -c "import mlflow" 2>/dev/null; then
  mlflow=mlflow
else
  venv="${RECSWEEP_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/recsweep-tests}/mlflow-venv"
  if [ ! -x "$venv/bin/mlflow" ]; then
    (python3 -m venv "$venv" && "$venv/bin/pip" install -q mlflow) >"$work/pip.log" 2>&1 ||
      { rm -rf "$venv"; skip "cannot install mlflow: $(tail -1 "$work/pip.log")"; }
  fi
  mlflow="$venv/bin/mlflow"
fi

port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
uri="http://127.0.0.1:$port"
setsid "$mlflow" server --host 127.0.0.1 --port "$port" --workers 1 \
  --backend-store-uri "sqlite:///$work/mlflow.db" \
  --artifacts-destination "$work/artifacts" >"$work/server.log" 2>&1 &
echo $! >"$work/server.pid"
for _ in $(seq 120); do
  curl -sf "$uri/health" >/dev/null 2>&1 && break
  kill -0 "$(cat "$work/server.pid")" 2>/dev/null || skip "mlflow server exited: $(tail -1 "$work/server.log")"
  sleep 1
done
curl -sf "$uri/health" >/dev/null 2>&1 || skip "mlflow server did not answer on $uri in 120 s"

# A small sweep with seeds, an epoch-trained model (curves as steps),
# refits and a two-round feedback loop (rounds as steps); its report goes to the work folder, not the clone's reports/.
cat >"$work/spec.yaml" <<EOF
name: mlflow_export
dataset: {source: synthetic, users: 150, items: 80, interactions: 3000, seed: 3}
split: {method: leave_one_out, validation: true}
evaluation: {cutoffs: [5, 10], metrics: [recall, ndcg, coverage]}
models:
  - model: most_pop
  - model: itemknn
    sweep: {neighbors: [10, 40]}
  - model: mf
    params: {dim: 8, epochs: 3, loss: softmax, popularity: {method: logq}}
sweep: {seeds: 2}
selection: {metric: ndcg@10, refit: true}
simulation: {rounds: 2, k: 5, epsilon: [0.0, 0.1], oracle: true}
report: {path: $work/report/mlflow_export.md}
EOF
cd "$work" || fail "no work folder"
run() { "$bin" run spec.yaml --quiet --results results "$@" >>"$work/run.log" 2>&1 || fail "recsweep run $*"; }
export_() { "$bin" export mlflow results/mlflow_export --tracking-uri "$uri" "$@"; }

run --shard 0/2
first=$(export_ 2>&1) || fail "first export: $first"
echo "$first" | grep -q "trials have no result yet" || fail "a sharded run's export does not say trials are missing: $first"
# A run an interrupted export left half-written (no recsweep.complete)
# is replaced, not counted as done.
context=$(sed -n 's/^context: //p' results/mlflow_export/experiment.yaml)
trial=$(ls results/mlflow_export/trials | head -1)
exp_id=$(curl -sf "$uri/api/2.0/mlflow/experiments/get-by-name?experiment_name=mlflow_export" |
  python3 -c "import json, sys; print(json.load(sys.stdin)['experiment']['experiment_id'])")
curl -sf -X POST -H 'Content-Type: application/json' "$uri/api/2.0/mlflow/runs/create" -d "{
  \"experiment_id\": \"$exp_id\", \"tags\": [{\"key\": \"recsweep.context\", \"value\": \"$context\"},
  {\"key\": \"recsweep.role\", \"value\": \"trial\"}, {\"key\": \"recsweep.trial_id\", \"value\": \"$trial\"}]}" \
  >/dev/null || fail "cannot create a half-written run"
run
second=$(export_ 2>&1) || fail "second export: $second"
echo "$second" | grep -q "1 half-written runs of an interrupted export replaced" ||
  fail "the half-written run was not replaced: $second"
echo "$second" | grep -Eq " [1-9][0-9]* trial runs created, [1-9][0-9]* already there" ||
  fail "the second export did not add only what was missing: $second"
third=$(export_ 2>&1) || fail "third export: $third"
echo "$third" | grep -q " 0 trial runs created" || fail "a third export created runs: $third"

python3 "$root/tests/mlflow_check.py" "$uri" results/mlflow_export mlflow_export >"$work/check.log" 2>&1 ||
  fail "runs differ from the results folder: $(tail -5 "$work/check.log")"

# A deleted experiment is refused (exit 2), naming it.
id=$exp_id
curl -sf -X POST -H 'Content-Type: application/json' -d "{\"experiment_id\": \"$id\"}" \
  "$uri/api/2.0/mlflow/experiments/delete" >/dev/null || fail "cannot delete the experiment"
deleted=$(export_ 2>&1)
code=$?
[ "$code" = 2 ] && echo "$deleted" | grep -q "mlflow_export\` (id $id) is deleted" ||
  fail "export to a deleted experiment: exit $code, $deleted"

echo "mlflow: $(tail -1 "$work/check.log"); exports: $(echo "$second" | sed -n 2p | sed 's/^ *//')"
