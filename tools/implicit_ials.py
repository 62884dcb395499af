"""Optional: time implicit's AlternatingLeastSquares on the interactions written
by `recsweep bench ials --write FILE`, for docs/benchmarks.md. Not part of the
build or the tests. Needs `pip install implicit scipy`.

    python3 tools/implicit_ials.py FILE [ITERATIONS] [cg|exact] [THREADS]
"""
import sys
import time

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

pairs = np.loadtxt(sys.argv[1], dtype=np.int64)
iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 5
use_cg = (sys.argv[3] if len(sys.argv) > 3 else "cg") == "cg"
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
users, items = pairs[:, 0], pairs[:, 1]
matrix = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (users, items)))
times = []
for n in (1, 1 + iterations):
    model = AlternatingLeastSquares(factors=64, regularization=1.0, alpha=10.0, iterations=n,
                                    use_cg=use_cg, num_threads=threads,
                                    calculate_training_loss=False, random_state=1)
    start = time.perf_counter()
    model.fit(matrix, show_progress=False)
    times.append(time.perf_counter() - start)
print(f"implicit {'cg' if use_cg else 'exact'}: {matrix.shape[0]} users x {matrix.shape[1]} items, "
      f"{matrix.nnz} interactions, seconds per iteration {(times[1] - times[0]) / iterations:.4f}")
