"""The cell-eval parity suite's DE side: for each h5ad, computes the DE table
exactly as cell-eval 0.8.1 does (its own input preparation, its own pdex
keyword arguments, pdex 0.2.5), reads the table `pertbench de` wrote for the
same file, and prints one JSON line per compared column with the largest
difference and its tolerance.

    python compare_de.py DIR FILE...

For FILE `x.h5ad`, pertbench's tables are `DIR/x.pdex_0_2.csv` and
`DIR/x.cell_eval_0_5.csv`. The second convention (pdex 0.1 as cell-eval 0.5
called it: the Virtual Cell Challenge's scorer) is compared with its
definition in scipy: `mannwhitneyu(use_continuity=True,
method="asymptotic")` per gene, Benjamini-Hochberg over all tests
(`false_discovery_control`), fold change expm1(mean) ratios clipped at 20.

Tolerances: the test statistic, p-values and FDR within 1e-9 relative.
Means and fold changes within 1e-9 relative on float64 log1p input. pdex
sums float32 input in float32 (scipy's sparse mean, numpy's mean) where
pertbench sums in float64, and on integer counts cell-eval's log1p is
numpy's float32 one (its last bit depends on the CPU) where pertbench
rounds the float64 log1p: there means and fold changes are compared within
1e-5 relative + 1e-5 absolute (the documented difference; cell-eval itself
casts fold changes to float32 before any metric).
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
from scipy.stats import false_discovery_control, mannwhitneyu

from cell_eval._evaluator import _build_pdex_kwargs, _convert_to_normlog
from cell_eval.utils import _cast_float16_to_float32
from pdex import pdex

CONTROL = "non-targeting"
PERT_COL = "target_gene"
EXACT = ["statistic", "p_value", "fdr"]
MEANS = ["target_mean", "ref_mean", "log2_fold_change"]


def prepared(path):
    """The AnnData as cell-eval's evaluator prepares it."""
    adata = ad.read_h5ad(path)
    _cast_float16_to_float32(adata)
    _convert_to_normlog(adata, allow_discrete=False)
    return adata


def cell_eval_de(adata):
    kwargs = _build_pdex_kwargs(
        reference=CONTROL, groupby=PERT_COL, threads=1, allow_discrete=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = pdex(adata=adata, mode="ref", **kwargs)
    return frame.to_pandas()


def pdex01_definition(adata):
    """pdex 0.1's wilcoxon DE (as cell-eval 0.5 called it), from its definition."""
    x = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    x = x.astype(np.float64)
    labels = adata.obs[PERT_COL].astype(str).to_numpy()
    ref = x[labels == CONTROL]
    mu_r = np.expm1(ref.mean(axis=0))
    out = []
    for t in sorted(set(labels) - {CONTROL}):
        tgt = x[labels == t]
        mu_t = np.expm1(tgt.mean(axis=0))
        for j, gene in enumerate(adata.var_names):
            r = mannwhitneyu(
                tgt[:, j], ref[:, j], use_continuity=True, method="asymptotic"
            )
            if mu_r[j] == 0:
                fc = 20.0
            elif mu_t[j] == 0:
                fc = 1 / 20.0
            else:
                fc = mu_t[j] / mu_r[j]
            out.append(
                {
                    "target": t,
                    "feature": gene,
                    "target_mean": mu_t[j],
                    "ref_mean": mu_r[j],
                    "log2_fold_change": np.log2(fc),
                    "statistic": r.statistic,
                    "p_value": r.pvalue,
                }
            )
    frame = pd.DataFrame(out)
    frame["fdr"] = false_discovery_control(frame["p_value"].to_numpy(), method="bh")
    return frame


def worst(mine, ref, column, rel, abs_):
    a = mine[column].to_numpy(dtype=np.float64)
    b = ref[column].to_numpy(dtype=np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    diff = np.where(same, 0.0, np.abs(a - b))
    allowed = abs_ + rel * np.maximum(np.abs(a), np.abs(b))
    over = np.where(same, 0.0, diff / np.where(allowed > 0, allowed, 1e-300))
    i = int(np.argmax(over))
    return float(over[i]), float(a[i]), float(b[i]), i


def compare(name, convention, mine, ref, loose_means):
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


def main(directory, files):
    directory = Path(directory)
    for f in files:
        path = directory / f
        stem = path.stem
        raw = ad.read_h5ad(path)
        x = raw.X
        float32_input = (x.data.dtype if sp.issparse(x) else x.dtype) == np.float32
        adata = prepared(path)
        mine = pd.read_csv(directory / f"{stem}.pdex_0_2.csv")
        counts = "counts" in stem
        compare(f, "pdex_0_2", mine, cell_eval_de(adata), float32_input or counts)
        mine = pd.read_csv(directory / f"{stem}.cell_eval_0_5.csv")
        compare(f, "cell_eval_0_5", mine, pdex01_definition(adata), counts)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
