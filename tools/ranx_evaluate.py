"""Optional: time ranx on the files of tools/make_big_run.py, for
docs/benchmarks.md. Not part of the build or the tests. Needs `pip install ranx`.

    python3 tools/ranx_evaluate.py DIR
"""
import sys
import time
from pathlib import Path

from ranx import Qrels, Run, evaluate

folder = Path(sys.argv[1])
metrics = [f"{m}@{k}" for k in (10, 20, 50, 100) for m in ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")]
start = time.perf_counter()
qrels = Qrels.from_file(str(folder / "qrels.txt"), kind="trec")
run = Run.from_file(str(folder / "run.txt"), kind="trec")
loaded = time.perf_counter()
evaluate(qrels, run, metrics[:1])  # numba compiles on the first call
compiled = time.perf_counter()
scores = evaluate(qrels, run, metrics)
done = time.perf_counter()
print(f"ranx: load {loaded - start:.1f} s, evaluate {done - compiled:.2f} s (after a {compiled - loaded:.1f} s JIT warm-up), "
      f"ndcg@10 = {scores['ndcg@10']:.6f}")
