"""Optional: EASE's closed form with NumPy/SciPy (LAPACK potrf + potri, in
place, single precision) on an adjacency-list train file, for the "EASE at
41K items" row of docs/benchmarks.md. Not part of the build or the tests.
Needs `pip install numpy scipy`.

    python3 tools/ease_solve.py TRAIN.txt [L2]

Prints the seconds of the Gram matrix and of the factorisation and
inverse, and the peak resident memory, to compare with
`/usr/bin/time -v recsweep run` on an EASE-only spec of the same file.

At Gowalla's 40,981 items SciPy's OpenBLAS (0.3.31, the wheel's) crashes
inside spotrf with 2 threads, with the 32-bit and the ILP64 wrappers
alike and with an 8 MB or 1 GB stack; with OPENBLAS_NUM_THREADS=1 it runs
(2026-12-08). A single-threaded peer needs recsweep's solve timed on one
thread too.
"""
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

path = sys.argv[1]
l2 = float(sys.argv[2]) if len(sys.argv) > 2 else 100.0
users, items = [], []
with open(path) as f:
    for line in f:
        ids = line.split()
        users += [int(ids[0])] * (len(ids) - 1)
        items += [int(i) for i in ids[1:]]
x = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)))
start = time.perf_counter()
# In column blocks: the sparse XᵀX in one piece has more nonzeros than
# scipy's 32-bit indices hold at this size (it crashed).
n = x.shape[1]
g = np.zeros((n, n), dtype=np.float32)
xt = x.T.tocsr()
for j in range(0, n, 4096):
    g[:, j:j + 4096] = (xt @ x[:, j:j + 4096]).toarray()
g[np.diag_indices_from(g)] += l2
gram = time.perf_counter() - start
start = time.perf_counter()
# G is symmetric, so its transpose (a Fortran-order view, no copy) is G
# itself in the layout LAPACK works on in place.
g = g.T
c, info = lapack.spotrf(g, lower=1, overwrite_a=1, clean=0)
assert info == 0, info
p, info = lapack.spotri(c, lower=1, overwrite_c=1)
assert info == 0, info
solve = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
# B = I - P diag(1/diag P) is O(n^2) more and left out: the solve is the
# comparison.
print(f"numpy/scipy EASE f32: {x.shape[1]} items, gram {gram:.1f} s, potrf+potri {solve:.1f} s, "
      f"peak after the solve {peak:.1f} GB")
