"""Optional: hnswlib's HNSW and faiss's exact scan on the vectors written by
`recsweep bench ann --write DIR`, printed as that command prints its rows, for
docs/benchmarks.md. Not part of the build or the tests. Needs
`pip install hnswlib faiss-cpu numpy`.

    python3 tools/ann_peers.py DIR [N] [M] [EF_CONSTRUCTION] [EF,EF,...] [REPEAT]

Both run on one thread. hnswlib indexes the vectors lifted as recsweep lifts
them (x -> [x, sqrt(max_norm^2 - |x|^2)], queries [q, 0]) in its L2 space, so
the graphs search the same geometry. Recall is ann-benchmarks' rule, as
recsweep's: a returned item counts when its inner product reaches the exact
n-th best's minus 1e-3.
"""
import statistics
import sys
import time

import faiss
import hnswlib
import numpy as np


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(np.float32)


def timed(repeat, queries, run):
    rates, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        rates.append(queries / (time.perf_counter() - start))
    return result, statistics.median(rates), min(rates), max(rates)


folder = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
m = int(sys.argv[3]) if len(sys.argv) > 3 else 16
ef_construction = int(sys.argv[4]) if len(sys.argv) > 4 else 200
efs = [int(e) for e in (sys.argv[5] if len(sys.argv) > 5 else "100,200,400").split(",")]
repeat = int(sys.argv[6]) if len(sys.argv) > 6 else 3
items = read_fvecs(f"{folder}/items.fvecs")
queries = read_fvecs(f"{folder}/queries.fvecs")
faiss.omp_set_num_threads(1)

flat = faiss.IndexFlatIP(items.shape[1])
flat.add(items)
(scores, truth), rate, low, high = timed(repeat, len(queries), lambda: flat.search(queries, n))
nth = scores[:, n - 1]
print(f"{len(items)} items, {len(queries)} queries, dim {items.shape[1]}, top {n}, one thread")
print(f"| faiss IndexFlatIP | exact | 1.000 | {rate:.0f} ({low:.0f}–{high:.0f}) | – |")

norms = (items ** 2).sum(axis=1)
lifted = np.hstack([items, np.sqrt(np.maximum(norms.max() - norms, 0))[:, None]]).astype(np.float32)
lifted_queries = np.hstack([queries, np.zeros((len(queries), 1), np.float32)])
index = hnswlib.Index(space="l2", dim=lifted.shape[1])
index.set_num_threads(1)
start = time.perf_counter()
index.init_index(max_elements=len(lifted), M=m, ef_construction=ef_construction, random_seed=1)
index.add_items(lifted, np.arange(len(lifted)))
build = time.perf_counter() - start
for ef in efs:
    index.set_ef(ef)
    (labels, _), rate, low, high = timed(repeat, len(queries), lambda: index.knn_query(lifted_queries, k=n))
    got = np.einsum("qd,qkd->qk", queries, items[labels])
    recall = (got >= nth[:, None] - 1e-3).sum() / (len(queries) * n)
    print(f"| hnswlib m {m}, ef_construction {ef_construction} | ef {ef} | {recall:.3f} | {rate:.0f} ({low:.0f}–{high:.0f}) | {build:.1f} |")
