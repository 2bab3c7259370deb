"""Row 2's pandas peer: group-by sum, mean, count of v by k.

Usage: /usr/bin/python3 pandas_groupby.py FILE.csv

Debian's python3-pandas has neither pyarrow nor fastparquet, so it reads
the CSV copy of the Parquet data; the load and the aggregation are timed
apart and printed as one JSON object on stdout (seconds).
"""
import json
import sys
import time

import pandas as pd


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: pandas_groupby.py FILE.csv")
    t0 = time.perf_counter()
    df = pd.read_csv(sys.argv[1], dtype={"k": "int64", "v": "float64"})
    t1 = time.perf_counter()
    out = df.groupby("k", sort=False)["v"].agg(["sum", "mean", "count"])
    t2 = time.perf_counter()
    print(json.dumps({
        "pandas": pd.__version__,
        "rows": int(len(df)),
        "groups": int(len(out)),
        "count_total": int(out["count"].sum()),
        "sum_total": float(out["sum"].sum()),
        "load_s": t1 - t0,
        "agg_s": t2 - t1,
    }))


if __name__ == "__main__":
    main()
