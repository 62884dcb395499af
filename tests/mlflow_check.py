"""Compares an MLflow experiment, read back through the REST API, with the
recsweep results folder it was exported from (tests/mlflow.sh).

    python3 tests/mlflow_check.py URI RESULTS_FOLDER EXPERIMENT

Exits 1 naming the first difference: one parent run, one trial run per
stored trial (none missing, none twice), each nested under the parent with
its model, configuration, seed and params, every validation and test mean
and interval, training curves as steps, and the report as the parent's
artifacts. Standard library only.
"""

import json
import math
import pathlib
import sys
import urllib.parse
import urllib.request


def call(uri, endpoint, body=None, query=None):
    url = f"{uri}/api/2.0/mlflow/{endpoint}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def fail(message):
    print(f"difference: {message}")
    sys.exit(1)


def same(a, b):
    """Equal as stored doubles; NaN (null in recsweep's JSON) equals NaN."""
    a = math.nan if a is None else float(a)
    b = math.nan if b is None else float(b)
    return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))


def flat(prefix, value, out):
    for k, v in value.items():
        key = f"{prefix}.{k}"
        if isinstance(v, dict) and v:
            flat(key, v, out)
        else:
            out[key] = v


def main():
    uri, folder, name = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
    stored = {}
    for path in (folder / "trials").glob("*/trial.json"):
        record = json.loads(path.read_text())
        stored[record["trial"]["id"]] = record
    exp_id = call(uri, "experiments/get-by-name", query={"experiment_name": name})["experiment"]["experiment_id"]

    runs, token = [], None
    while True:
        body = {"experiment_ids": [exp_id], "max_results": 1000}
        if token:
            body["page_token"] = token
        page = call(uri, "runs/search", body)
        runs += page.get("runs", [])
        token = page.get("next_page_token")
        if not token:
            break
    tags = lambda run: {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    parents = [r for r in runs if tags(r).get("recsweep.role") == "experiment"]
    trials = [r for r in runs if tags(r).get("recsweep.role") == "trial"]
    if len(parents) != 1:
        fail(f"{len(parents)} parent runs, expected 1")
    parent = parents[0]["info"]["run_id"]
    ids = [tags(r)["recsweep.trial_id"] for r in trials]
    if len(ids) != len(set(ids)):
        fail(f"a trial exported twice: {sorted(i for i in ids if ids.count(i) > 1)}")
    if set(ids) != set(stored):
        fail(f"missing {sorted(set(stored) - set(ids))}, extra {sorted(set(ids) - set(stored))}")

    compared = 0
    for run in trials:
        t = tags(run)
        record = stored[t["recsweep.trial_id"]]
        trial = record["trial"]
        if t.get("mlflow.parentRunId") != parent:
            fail(f"{trial['id']} is not nested under the experiment's run")
        if t.get("recsweep.complete") != "true" or run["info"]["status"] != "FINISHED":
            fail(f"{trial['id']}: status {run['info']['status']}, complete {t.get('recsweep.complete')}")
        params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
        expected = {"model": trial["model"], "name": trial["model_name"], "seed": str(trial["seed"])}
        flat("params", trial["params"], expected)
        for key, value in expected.items():
            got = params.get(key)
            if isinstance(value, bool):
                ok = got == str(value).lower()
            elif isinstance(value, (int, float)):
                ok = got is not None and same(got, value)
            elif isinstance(value, str):
                ok = got == value
            else:
                ok = got is not None
            if not ok:
                fail(f"{trial['id']}: param {key} is {got!r}, the results folder has {value!r}")
            compared += 1
        metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
        for part in ("validation", "test"):
            for metric, summary in (record.get(part) or {}).get("metrics", {}).items():
                key = f"{part}.{metric.replace('@', '_at_')}"
                for suffix, value in (("", summary["mean"]), (".ci95", summary.get("ci95"))):
                    if suffix and value is None:
                        continue
                    if key + suffix not in metrics or not same(metrics[key + suffix], value):
                        fail(f"{trial['id']}: {key + suffix} is {metrics.get(key + suffix)}, the results folder has {value}")
                    compared += 1
        curve = record.get("curve")
        if curve:
            history = call(uri, "metrics/get-history", query={"run_id": run["info"]["run_id"], "metric_key": "epoch.loss"})
            steps = sorted((m["step"], m["value"]) for m in history.get("metrics", []))
            want = [(e["epoch"], e["loss"]) for e in curve["epochs"]]
            if len(steps) != len(want) or not all(s == w[0] and same(v, w[1]) for (s, v), w in zip(steps, want)):
                fail(f"{trial['id']}: epoch.loss steps {steps}, the curve has {want}")
            compared += len(want)
        for sim in record.get("simulation", []):
            eps = sim["epsilon"]
            where = "oracle" if sim.get("oracle") else f"epsilon_{eps:g}"
            key = f"simulation.{where}.truth_utility"
            history = call(uri, "metrics/get-history", query={"run_id": run["info"]["run_id"], "metric_key": key})
            steps = sorted((m["step"], m["value"]) for m in history.get("metrics", []))
            want = [(r + 1, round_["truth_utility"]) for r, round_ in enumerate(sim["rounds"])]
            if len(steps) != len(want) or not all(s == w[0] and same(v, w[1]) for (s, v), w in zip(steps, want)):
                fail(f"{trial['id']}: {key} steps {steps}, the simulation has {want}")
            compared += len(want)

    listed = call(uri, "artifacts/list", query={"run_id": parent})
    top = {f["path"] for f in listed.get("files", [])}
    report = call(uri, "artifacts/list", query={"run_id": parent, "path": "report"})
    files = {f["path"] for f in report.get("files", [])}
    for path in ("experiment.yaml",):
        if path not in top:
            fail(f"artifact {path} missing from the parent run ({sorted(top)})")
    for path in (f"report/{name}.md", f"report/{name}-appendix.md", f"report/{name}"):
        if path not in files:
            fail(f"artifact {path} missing from the parent run ({sorted(files)})")
    print(f"{len(trials)} trial runs under 1 parent match the results folder ({compared} values compared)")


main()
