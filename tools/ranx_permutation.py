"""Optional: time ranx's Fisher randomization test on the vectors written by
`recsweep bench permutation --write DIR`, for docs/benchmarks.md.
Not part of the build or the tests. Needs `pip install ranx`.

    python3 tools/ranx_permutation.py DIR [PERMUTATIONS]
"""
import sys
import time
from pathlib import Path

import numpy as np
from ranx.statistical_tests.fisher_randomization_test import fisher_randomization_test


def load(path):
    rows = Path(path).read_text().splitlines()[1:]
    return np.array([float(r.split("\t")[1]) for r in rows])


folder = Path(sys.argv[1])
permutations = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
a, b = load(folder / "A.tsv"), load(folder / "B.tsv")
fisher_randomization_test(a[:100], b[:100], 10)  # numba compiles on the first call
times = []
for _ in range(3):
    start = time.perf_counter()
    p, _ = fisher_randomization_test(a, b, permutations)
    times.append(time.perf_counter() - start)
print(f"ranx fisher_randomization_test: {len(a)} users, {permutations} permutations, "
      f"min {min(times):.3f} s, median {sorted(times)[1]:.3f} s, p = {p:.4f}")
