"""Writes a small single-cell embedding (one row per cell: Metadata_
columns, then PC_1..PC_8, as X_pca holds it) with pandas and pyarrow, for
pertbench's distance suite (crates/cli/tests/distance): control cells and
twelve perturbations p01..p12 of 12 to 30 cells, about a mean of 4 in
every feature; some shift the mean (a
few features or all), some widen the spread, some do nothing. Rows come
in sorted group order (control, p01, ..., p12): pertpy 1.2.0's
DistanceTest assigns its p-values in sorted group order, so only then do
they land on their own group (see `pertbench explain distance`). Values are
float32 numbers (stored as float64), so pertpy and pertbench see the same
values.

    python make_cells.py OUT_DIR

Writes cells.parquet.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

D = 8


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261208)
    scale = np.linspace(2.0, 0.5, D)
    rows, values = [], []

    def add(group, x):
        rows.append(dict(Metadata_perturbation=group, Metadata_batch="B1",
                         Metadata_cell=f"c{len(rows):04d}",
                         Metadata_control=group == "control"))
        values.append(x)

    for _ in range(80):
        add("control", rng.normal(0, scale))
    for g in range(1, 13):
        n = [12, 18, 24, 30][g % 4]
        kind = g % 4  # 0: no effect, 1: a few features, 2: all, 3: spread
        shift = np.zeros(D)
        spread = np.ones(D)
        if kind == 1:
            shift[rng.choice(D, 3, replace=False)] = rng.normal(0, 1.2, 3)
        elif kind == 2:
            shift = rng.normal(0, 0.6, D)
        elif kind == 3:
            spread = np.full(D, 1.6)
        for _ in range(n):
            add(f"p{g:02d}", shift + spread * rng.normal(0, scale))
    meta = pd.DataFrame(rows)
    # Positive means, as mean_var_distribution (log mean, log variance of
    # features with a positive mean) needs.
    x = (4.0 + np.asarray(values)).astype(np.float32).astype(np.float64)
    df = pd.concat([meta, pd.DataFrame(x, columns=[f"PC_{k + 1}" for k in range(D)])], axis=1)
    df.to_parquet(out / "cells.parquet", index=False)


if __name__ == "__main__":
    main()
