"""Optional: write a synthetic TREC run (USERS users × 100 items, random scores)
and qrels (one held-out item each) for the `evaluate` timing in
docs/benchmarks.md. Not part of the build or the tests.

    python3 tools/make_big_run.py DIR [USERS] [ITEMS]
"""
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1])
users = int(sys.argv[2]) if len(sys.argv) > 2 else 138_000
items = int(sys.argv[3]) if len(sys.argv) > 3 else 27_000
rng = np.random.default_rng(3)
with open(out / "run.txt", "w") as run, open(out / "qrels.txt", "w") as qrels:
    for u in range(users):
        docs = rng.choice(items, size=100, replace=False)
        scores = rng.random(100)
        run.write("".join(f"u{u} Q0 i{d} {r} {s:.6f} x\n" for r, (d, s) in enumerate(zip(docs, scores), 1)))
        truth = docs[0] if rng.random() < 0.3 else rng.integers(items)
        qrels.write(f"u{u} 0 i{truth} 1\n")
