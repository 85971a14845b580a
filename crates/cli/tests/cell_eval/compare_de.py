"""The cell-eval parity suite's DE side: for each h5ad, computes the DE table
exactly as the cell-eval release of CONVENTION does (its own input
preparation, its own pdex keyword arguments): cell-eval 0.8.1 with pdex
0.2.5 for `pdex_0_2`, cell-eval 0.5.45 with pdex 0.1.24 for
`cell_eval_0_5` (run this script with that release's environment), reads
the table `pertbench de` wrote for the same file, and prints one JSON line
per compared column with the largest difference and its tolerance.

    python compare_de.py DIR CONVENTION FILE...

For FILE `x.h5ad`, pertbench's table is `DIR/x.CONVENTION.csv`.

Tolerances: the test statistic, p-values and FDR within 1e-9 relative,
except where scipy computes in float32: pdex 0.1 hands scipy the float32
columns of a float32 matrix, and scipy's `mannwhitneyu` then returns
float32 p-values (its z and normal tail in float32), compared within 2e-5
relative + 1e-30 absolute (the documented difference; pertbench computes
in float64). Means and fold changes within 1e-9 relative on float64 log1p
input. pdex sums float32 input in float32 (scipy's sparse mean, numpy's
mean) where pertbench sums in float64, and on integer counts cell-eval's
log1p is numpy's float32 one (its last bit depends on the CPU) where
pertbench rounds the float64 log1p: there means and fold changes are
compared within 1e-5 relative + 1e-5 absolute (the documented difference;
cell-eval itself casts fold changes to float32 before any metric).
pdex 0.1's log1p guess draws 500 cells at random; these files are smaller,
so it sees every cell, as pertbench does.
"""

import json
import math
import sys
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

CONTROL = "non-targeting"
PERT_COL = "target_gene"
EXACT = ["statistic", "p_value", "fdr"]
MEANS = ["target_mean", "ref_mean", "log2_fold_change"]


def prepared(path):
    """The AnnData as cell-eval's evaluator prepares it."""
    from cell_eval._evaluator import _convert_to_normlog

    adata = ad.read_h5ad(path)
    try:
        from cell_eval.utils import _cast_float16_to_float32

        _cast_float16_to_float32(adata)
    except ImportError:  # cell-eval 0.5 has no float16 cast
        pass
    _convert_to_normlog(adata, allow_discrete=False)
    return adata


def cell_eval_de(adata):
    """cell-eval 0.8.1's DE: pdex 0.2 with the evaluator's keyword arguments."""
    from cell_eval._evaluator import _build_pdex_kwargs
    from pdex import pdex

    kwargs = _build_pdex_kwargs(
        reference=CONTROL, groupby=PERT_COL, threads=1, allow_discrete=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = pdex(adata=adata, mode="ref", **kwargs)
    return frame.to_pandas()


def cell_eval_05_de(adata):
    """cell-eval 0.5.45's DE: pdex 0.1's parallel_differential_expression
    with the evaluator's keyword arguments, its columns renamed to pdex 0.2's
    (log2_fold_change is log2 of the ratio, NaN becoming 0, as cell-eval 0.5
    derives it)."""
    import logging
    import os

    from cell_eval._evaluator import _build_pdex_kwargs
    from pdex import parallel_differential_expression

    logging.disable(logging.WARNING)
    os.environ["TQDM_DISABLE"] = "1"
    kwargs = _build_pdex_kwargs(
        reference=CONTROL,
        groupby_key=PERT_COL,
        num_workers=1,
        batch_size=100,
        metric="wilcoxon",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = parallel_differential_expression(adata=adata, **kwargs).to_pandas()
    fc = frame["fold_change"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lfc = np.log2(fc)
    frame["log2_fold_change"] = np.where(np.isnan(lfc), 0.0, lfc)
    return frame.rename(columns={"reference_mean": "ref_mean"})


def worst(mine, ref, column, rel, abs_):
    a = mine[column].to_numpy(dtype=np.float64)
    b = ref[column].to_numpy(dtype=np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    diff = np.where(same, 0.0, np.abs(a - b))
    allowed = abs_ + rel * np.maximum(np.abs(a), np.abs(b))
    over = np.where(same, 0.0, diff / np.where(allowed > 0, allowed, 1e-300))
    i = int(np.argmax(over))
    return float(over[i]), float(a[i]), float(b[i]), i


def compare(name, convention, mine, ref, loose_means, float32_tests):
    keys = ["target", "feature"]
    mine = mine.astype({"target": str, "feature": str})
    ref = ref.astype({"target": str, "feature": str})
    merged = mine.merge(ref, on=keys, how="outer", suffixes=("", "_ref"), indicator=True)
    missing = int((merged["_merge"] != "both").sum())
    print(
        json.dumps(
            {
                "file": name,
                "convention": convention,
                "column": "rows",
                "n": len(merged),
                "score": float(missing),
                "tolerance": 0.0,
                "detail": f"{missing} (target, feature) rows in only one table",
            }
        )
    )
    both = merged[merged["_merge"] == "both"]
    refs = both[[f"{c}_ref" for c in EXACT + MEANS]].rename(columns=lambda c: c[:-4])
    for column in EXACT + MEANS:
        if column in MEANS and loose_means:
            rel, abs_ = 1e-5, 1e-5
        elif column in ("p_value", "fdr") and float32_tests:
            rel, abs_ = 2e-5, 1e-30
        else:
            rel, abs_ = 1e-9, 0.0
        score, a, b, i = worst(both, refs, column, rel, abs_)
        row = both.iloc[i]
        print(
            json.dumps(
                {
                    "file": name,
                    "convention": convention,
                    "column": column,
                    "n": len(both),
                    # The largest difference as a multiple of what is allowed.
                    "score": finite(score),
                    "tolerance": 1.0,
                    "detail": f"{row['target']}/{row['feature']}: pertbench {a!r}, reference {b!r} (rel {rel}, abs {abs_})",
                }
            )
        )


def finite(score):
    """JSON has no infinity: an infinite or NaN score is printed as 1e300."""
    return 1e300 if math.isnan(score) or math.isinf(score) else score


def main(directory, convention, files):
    directory = Path(directory)
    for f in files:
        path = directory / f
        stem = path.stem
        raw = ad.read_h5ad(path)
        x = raw.X
        float32_input = (x.data.dtype if sp.issparse(x) else x.dtype) == np.float32
        adata = prepared(path)
        mine = pd.read_csv(directory / f"{stem}.{convention}.csv")
        counts = "counts" in stem
        if convention == "pdex_0_2":
            compare(f, convention, mine, cell_eval_de(adata), float32_input or counts, False)
        else:
            # cell-eval's normalisation of counts yields float32 too.
            tested_f32 = float32_input or counts
            compare(f, convention, mine, cell_eval_05_de(adata), tested_f32, tested_f32)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
