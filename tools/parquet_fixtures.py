#!/usr/bin/env python3
"""Writes tests/fixtures/parquet/: one small table as pyarrow writes it with
each codec Parquet writers offer, plus a nested column recsweep refuses.
src/table/parquet.rs's tests read them back against the values below.

    pip install pyarrow && python3 tools/parquet_fixtures.py
"""
import datetime
import decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

out = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "parquet"
out.mkdir(parents=True, exist_ok=True)

table = pa.table(
    {
        "user": pa.array(["u1", "u2", "u1", None], pa.string()),
        "item": pa.array([10, -3, 7, 8], pa.int32()),
        "count": pa.array([0, 1, 4_000_000_000, 5], pa.uint32()),
        "rating": pa.array([4.5, None, 1.25, 3.0], pa.float32()),
        "score": pa.array([0.1, float("nan"), -2.5, 1e300], pa.float64()),
        "price": pa.array(
            [decimal.Decimal(x) for x in ("1.25", "-0.50", "100.00", "0.01")],
            pa.decimal128(7, 2),
        ),
        "ts": pa.array([0, 1_600_000_000_000, -1, 5], pa.timestamp("ms")),
        "day": pa.array([datetime.date(1970, 1, 2)] * 4, pa.date32()),
        "ok": pa.array([True, False, None, True], pa.bool_()),
    }
)
for codec in ["none", "snappy", "gzip", "brotli", "lz4", "zstd"]:
    pq.write_table(
        table,
        out / f"{codec}.parquet",
        compression=codec,
        store_decimal_as_integer=True,
    )
pq.write_table(pa.table({"tags": pa.array([[1, 2], [3]])}), out / "nested.parquet")
print("wrote", sorted(p.name for p in out.iterdir()))
