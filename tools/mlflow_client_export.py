"""Optional: the peer of `recsweep export mlflow` in docs/benchmarks.md. It logs
a results folder's trials with MLflow's Python client (a parent run, then a
nested run per trial with its params and validation and test metrics through
log_batch) and prints the time from client creation to the last run ended,
with the time of `import mlflow` apart. Not part of the build or the tests.
Needs `pip install mlflow` and a running tracking server.

    python3 tools/mlflow_client_export.py URI RESULTS/<name> EXPERIMENT
"""
import json, pathlib, sys, time
t0 = time.time()
import mlflow
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric, Param, RunTag
t_import = time.time() - t0
uri, folder, name = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
start = time.time()
c = MlflowClient(uri)
exp = c.get_experiment_by_name(name)
eid = exp.experiment_id if exp else c.create_experiment(name)
parent = c.create_run(eid, run_name=name).info.run_id
c.set_terminated(parent)
n = 0
for p in sorted(folder.glob("trials/*/trial.json")):
    r = json.loads(p.read_text())
    t = r["trial"]
    run = c.create_run(eid, run_name=t["model_name"], tags={"mlflow.parentRunId": parent, "recsweep.trial_id": t["id"]}).info.run_id
    params = [Param("model", t["model"]), Param("seed", str(t["seed"]))]
    def flat(prefix, v):
        for k, x in v.items():
            if isinstance(x, dict) and x: flat(f"{prefix}.{k}", x)
            else: params.append(Param(f"{prefix}.{k}", str(x)))
    flat("params", t["params"])
    now = int(time.time() * 1000)
    metrics = []
    for part in ("validation", "test"):
        for k, m in (r.get(part) or {}).get("metrics", {}).items():
            key = f"{part}.{k.replace('@', '_at_')}"
            metrics.append(Metric(key, m["mean"] if m["mean"] is not None else float("nan"), now, 0))
            if m.get("ci95") is not None:
                metrics.append(Metric(key + ".ci95", m["ci95"], now, 0))
    c.log_batch(run, metrics=metrics, params=params)
    c.set_terminated(run)
    n += 1
print(f"python client: {n} trial runs in {time.time() - start:.2f} s (import mlflow {t_import:.2f} s)")
