#!/usr/bin/env python3
"""TPE against random search on one spec, over several search seeds.

The spec is written for `sweep.tpe` with its spaces in the models' own
`sweep:` (so that `--set sweep.tpe=null --set sweep.random=...` searches the
same spaces at random, with the same budget). For each seed both searches
run (`recsweep run --set seed=S`), and for each model this prints random
search's best validation value of its whole budget, TPE's, and how many
configurations TPE needed to reach random's best: the docs/benchmarks.md
goal is a median of at most half the budget.

    python3 tools/tpe_vs_random.py experiments/tpe-vs-random-ml100k.yaml --seeds 1 2 3 4 5

Standard library only; RECSWEEP names the binary (default: the release
build under $CARGO_TARGET_DIR or ./target).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def binary():
    if "RECSWEEP" in os.environ:
        return os.environ["RECSWEEP"]
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    return os.path.join(target, "release", "recsweep")


def run(spec, seed, mode, root, budget, jobs):
    results = os.path.join(root, f"{mode}-{seed}")
    args = [binary(), "run", spec, "--quiet", "--results", results, "--set", f"seed={seed}"]
    args += ["--set", f"report.path={os.path.join(root, mode + '-' + str(seed) + '.md')}"]
    if jobs:
        args += ["--jobs", str(jobs)]
    if mode == "random":
        args += ["--set", "sweep.tpe=null", "--set", f"sweep.random={{samples: {budget}, space: {{}}}}"]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (folder,) = os.listdir(results)
    report = subprocess.run(
        [binary(), "report", os.path.join(results, folder), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(report.stdout)


def curves(report):
    """model → validation value of each configuration, in search order."""
    # Selection metrics are all higher-is-better (docs/spec.md, selection).
    metric = report["selection_metric"]
    configs = {}
    for row in report["trials"]:
        if row["refit"] or row["outcome"]["status"] != "ok":
            continue
        value = row["outcome"]["validation"]["metrics"][metric]["mean"]
        configs.setdefault(row["model"], {}).setdefault(row["knobs"], []).append(value)
    return {
        model: [statistics.fmean(v) for v in by_knobs.values()]
        for model, by_knobs in configs.items()
    }


def reach(values, target):
    """1-based configuration count where the running best first reaches target."""
    best = float("-inf")
    for i, v in enumerate(values):
        best = max(best, v)
        if best >= target - 1e-12:
            return i + 1
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--budget", type=int, default=20, help="the spec's sweep.tpe.trials")
    parser.add_argument("--jobs", type=int, default=0)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seeds:
            tpe = curves(run(args.spec, seed, "tpe", root, args.budget, args.jobs))
            rand = curves(run(args.spec, seed, "random", root, args.budget, args.jobs))
            for model in tpe:
                r, t = rand[model], tpe[model]
                rows.setdefault(model, []).append((seed, max(r), max(t), reach(t, max(r)), len(r), len(t)))
    print("| model | seed | random best | TPE best | TPE configurations to reach random's best |")
    print("|---|---|---|---|---|")
    for model, entries in rows.items():
        for seed, rb, tb, n, lr, lt in entries:
            shown = f"{n} of {lt}" if n else f"not reached in {lt}"
            print(f"| {model} | {seed} | {rb:.4f} | {tb:.4f} | {shown} |")
        needed = sorted(n if n else args.budget + 1 for _, _, _, n, _, _ in entries)
        median = statistics.median(needed)
        print(f"| {model} | median | | | {median:g} (goal ≤ {args.budget / 2:g}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
