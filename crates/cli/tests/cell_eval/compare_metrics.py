"""The cell-eval parity suite's metric side: runs the installed cell-eval's
own evaluator (`MetricsEvaluator`: 0.8.1 with pdex 0.2.5, or 0.5.45 with
pdex 0.1.24 for the `cell_eval_0_5` convention) on the predicted and the
baseline h5ad against the real one, scores the prediction against the
baseline with cell-eval's `score_agg_metrics`, reads what
`pertbench cell-eval` wrote for the same files, and prints one JSON line
per compared metric.

    python compare_metrics.py DIR PROFILE PERTBENCH_OUTDIR [PRED]

Inputs in DIR: real_log_csr_f32.h5ad, the prediction PRED
(pred_log_dense_f32.h5ad by default) and baseline.h5ad (cell-eval's mean
baseline, by make_pairs.py). Each metric
is compared per perturbation, as its aggregate mean, and as its score
from the baseline, within 1e-6 (absolute, or relative above 1); a value
that is null (or NaN) must be null (or NaN) in both. `clustering_agreement`
(Leiden on the centroids) is not part of pertbench's set and is skipped.
"""

import json
import math
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from cell_eval import MetricsEvaluator
from cell_eval._score import score_agg_metrics

CONTROL = "non-targeting"
PERT_COL = "target_gene"
TOLERANCE = 1e-6


def evaluate(directory, pred, profile, outdir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = MetricsEvaluator(
            adata_pred=str(directory / pred),
            adata_real=str(directory / "real_log_csr_f32.h5ad"),
            control_pert=CONTROL,
            pert_col=PERT_COL,
            num_threads=1,
            outdir=str(outdir),
        )
        return ev.compute(
            profile=profile,
            skip_metrics=["clustering_agreement"],
            write_csv=False,
            break_on_error=True,
        )


def both_missing(a, b):
    def missing(v):
        return v is None or (isinstance(v, float) and np.isnan(v))

    return missing(a) and missing(b)


def score(a, b):
    """The difference as a multiple of the tolerance (0 when both missing)."""
    if both_missing(a, b):
        return 0.0
    if a is None or b is None or np.isnan(a) or np.isnan(b):
        return float("inf")
    if a == b:
        return 0.0
    return abs(a - b) / (TOLERANCE * max(1.0, abs(b)))


def line(check, metric, n, worst, detail):
    print(
        json.dumps(
            {
                "check": check,
                "metric": metric,
                "n": n,
                "score": finite(worst),
                "tolerance": 1.0,
                "detail": detail,
            }
        )
    )


def value(v):
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def finite(score):
    """JSON has no infinity: an infinite or NaN score is printed as 1e300."""
    return 1e300 if math.isnan(score) or math.isinf(score) else score


def main(directory, profile, pertbench_outdir, pred="pred_log_dense_f32.h5ad"):
    logging.disable(logging.WARNING)
    directory, mine_dir = Path(directory), Path(pertbench_outdir)
    results, agg = evaluate(directory, pred, profile, directory / "ce")
    _, agg_base = evaluate(directory, "baseline.h5ad", profile, directory / "ce_base")
    scored = score_agg_metrics(agg, agg_base)

    mine = pd.read_csv(mine_dir / "results.csv", keep_default_na=False, na_values=[""])
    mine = mine.set_index("perturbation")
    theirs = results.to_pandas().set_index("perturbation")
    mine_cols = [c for c in mine.columns]
    missing = sorted(set(theirs.columns) ^ set(mine_cols))
    line("columns", "all", len(theirs.columns), 0.0 if not missing else float("inf"),
         f"metric columns in only one side: {missing}")
    for metric in theirs.columns:
        if metric not in mine.columns:
            continue
        worst, detail = 0.0, ""
        perts = sorted(set(theirs.index) | set(mine.index))
        for p in perts:
            a = value(mine[metric].get(p)) if p in mine.index else None
            b = value(theirs[metric].get(p)) if p in theirs.index else None
            s = score(a, b)
            if s >= worst:
                worst, detail = s, f"{p}: pertbench {a!r}, cell-eval {b!r}"
        line("per_perturbation", metric, len(perts), worst, detail)

    mine_agg = pd.read_csv(mine_dir / "agg_results.csv").set_index("statistic")
    theirs_agg = agg.to_pandas().set_index("statistic")
    for metric in theirs_agg.columns:
        if metric not in mine_agg.columns:
            continue
        a, b = value(mine_agg.loc["mean", metric]), value(theirs_agg.loc["mean", metric])
        line("mean", metric, 1, score(a, b), f"pertbench {a!r}, cell-eval {b!r}")

    mine_score = pd.read_csv(mine_dir / "score.csv").set_index("metric")
    theirs_score = scored.to_pandas().set_index("metric")
    # The documented difference: for a baseline that predicts the same cells
    # for every perturbation (cell-eval's mean baseline), the predicted
    # energy distances are equal up to rounding; cell-eval correlates that
    # noise, pertbench reports NaN, which the score turns into 0. The rest
    # of the score must then equal cell-eval's with that one entry at 0.
    base_agg = pd.read_csv(mine_dir / "baseline_agg_results.csv").set_index("statistic")
    if "pearson_edistance" in base_agg.columns:
        base_e = value(base_agg.loc["mean", "pearson_edistance"])
        theirs_base_e = value(agg_base.to_pandas().set_index("statistic").loc["mean", "pearson_edistance"])
        line("baseline_edistance_undefined", "pearson_edistance", 1,
             0.0 if base_e is not None and np.isnan(base_e) else float("inf"),
             f"pertbench's baseline pearson_edistance {base_e!r} (cell-eval's, from rounding noise: {theirs_base_e!r})")
        theirs_score.loc["pearson_edistance", "from_baseline"] = 0.0
        rest = theirs_score.drop(index="avg_score")["from_baseline"]
        theirs_score.loc["avg_score", "from_baseline"] = rest.mean()
    extra = sorted(set(mine_score.index) ^ set(theirs_score.index))
    line("score_metrics", "all", len(theirs_score), 0.0 if not extra else float("inf"),
         f"scored metrics in only one side: {extra}")
    for metric in theirs_score.index:
        if metric not in mine_score.index:
            continue
        a = value(mine_score.loc[metric, "from_baseline"])
        b = value(theirs_score.loc[metric, "from_baseline"])
        line("score", metric, 1, score(a, b), f"pertbench {a!r}, cell-eval {b!r}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
