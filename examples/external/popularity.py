#!/usr/bin/env python3
"""Item popularity as an external recsweep model, with the standard library only.

The contract (docs/external.md): recsweep runs this program once per trial with
RECSWEEP_INPUT and RECSWEEP_OUTPUT set. The input folder holds train.tsv (user,
item, then rating and timestamp where the dataset has them), users.tsv (the users to recommend for), items.tsv (the catalogue),
params.json and trial.json (seed, k, list_length, output, threads, ...). The
program writes recs.tsv (user, item, score), or users.tsv and items.tsv (an id,
then one column per dimension) when trial.json's output is "embeddings".

Params:
  damping (default 0): score = n / (n + damping) for an item with n train
    interactions; 0 scores by n itself. The order is the same for every
    damping: this example shows the contract, not a better model.
"""
import json
import os
import sys
from collections import Counter


def read_column(path):
    with open(path, encoding="utf-8") as f:
        next(f)  # header
        return [line.rstrip("\n") for line in f]


def main():
    inp, out = os.environ["RECSWEEP_INPUT"], os.environ["RECSWEEP_OUTPUT"]
    params = json.load(open(os.path.join(inp, "params.json")))
    trial = json.load(open(os.path.join(inp, "trial.json")))
    damping = float(params.get("damping", 0))
    if damping < 0:
        sys.exit(f"damping must be >= 0, got {damping}")

    seen = {}
    counts = Counter()
    with open(os.path.join(inp, "train.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            user, item = line.rstrip("\n").split("\t")[:2]
            seen.setdefault(user, set()).add(item)
            counts[item] += 1
    catalogue = read_column(os.path.join(inp, "items.tsv"))
    users = read_column(os.path.join(inp, "users.tsv"))

    def score(item):
        n = counts[item]
        return n / (n + damping) if damping > 0 else float(n)

    if trial["output"] == "embeddings":
        # One dimension: user 1, item its score; the dot product is the score.
        with open(os.path.join(out, "users.tsv"), "w", encoding="utf-8") as f:
            f.write("user\tv\n")
            f.writelines(f"{u}\t1\n" for u in users)
        with open(os.path.join(out, "items.tsv"), "w", encoding="utf-8") as f:
            f.write("item\tv\n")
            f.writelines(f"{i}\t{score(i)!r}\n" for i in catalogue)
        return

    # Ties in recsweep are broken by id: numerically when every id is an
    # integer, else as text. Breaking them the same way here makes the lists
    # recsweep's own most_pop would give.
    numeric = all(i.lstrip("-").isdigit() for i in catalogue)
    ranked = sorted(catalogue, key=lambda i: (-score(i), int(i) if numeric else i))
    length = trial["list_length"]
    with open(os.path.join(out, "recs.tsv"), "w", encoding="utf-8") as f:
        f.write("user\titem\tscore\n")
        for user in users:
            mine = seen.get(user, set())
            unseen = (i for i in ranked if i not in mine)
            for _, item in zip(range(length), unseen):
                f.write(f"{user}\t{item}\t{score(item)!r}\n")


if __name__ == "__main__":
    main()
