"""pertpy 1.2.0 on the cells pertbench scored: for every `distance` entry
of the run, pertpy's `Distance(metric).onesided_distances(adata,
groupby, selected_group="control")` (or, for `within: include_self`,
`DistanceTest`'s precomputed distance, whose within-group means include
the diagonal) with the entry's options, compared with pertbench's details
and row. Entries with a permutation test also run pertpy's
`DistanceTest`: its distance column is compared exactly; its p-values,
drawn from an unseeded generator, are compared within Monte Carlo error;
pertbench's adjusted p-values are compared with statsmodels'
`multipletests` on pertbench's own raw p-values (pertpy's way: the contrast
group counted with p = 1 / n_perms). Prints one JSON line per comparison.

    python compare.py WORKDIR PIPELINE CELLS_PARQUET
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from suite_lines import convention_of, line  # noqa: E402

import anndata as ad  # noqa: E402
import pertpy as pt  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402

CORRECTION = {"holm_sidak": "holm-sidak", "benjamini_hochberg": "fdr_bh"}


def relative(got, want, floor=1e-12):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return float("inf")
    d = np.abs(got - want) / np.maximum(np.abs(want), floor)
    d[np.isnan(got) & np.isnan(want)] = 0
    return float(np.max(d)) if d.size else 0.0


def main():
    work, pipeline, cells = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    df = pd.read_parquet(cells)
    features = [c for c in df.columns if not c.startswith("Metadata_")]
    x = df[features].to_numpy()
    adata = ad.AnnData(x)
    adata.obs["g"] = df["Metadata_perturbation"].astype(str).to_numpy()
    adata.obsm["X_pca"] = x
    results = pd.read_parquet(work / "results" / f"{pipeline}.parquet")
    nodes = {}
    for rec in (work / "cache").glob("*/*/node.json"):
        r = json.loads(rec.read_text())
        nodes[(r["kind"], r["key"])] = rec.parent
    for key, rows in results.groupby("metric_key", sort=False):
        c = convention_of(rows["convention"].iloc[0])
        value = dict(zip(rows["variant"], rows["value"]))
        details = pd.read_parquet(nodes[("metric", key)] / "details.parquet")
        got = details.set_index("perturbation")
        metric = c["metric"]
        what = dict(metric=rows["metric"].iloc[0], pertpy_metric=metric)
        kwargs = {}
        if metric == "mmd":
            kwargs["kernel"] = c["kernel"]
            if "gamma" in c:
                kwargs["gamma"] = float(c["gamma"])
            if "degree" in c:
                kwargs["degree"] = int(c["degree"])
        if "epsilon" in c:
            kwargs["epsilon"] = float(c["epsilon"])
        floor = 1e-12
        tested = "n_permutations" in c
        test = None
        if tested or c.get("within") == "include_self":
            b = int(c.get("n_permutations", 100))
            correction = CORRECTION[c.get("correction", "holm_sidak").split("+")[0]]
            dt = pt.tl.DistanceTest(metric, n_perms=b, obsm_key="X_pca", correction=correction,
                                    cell_wise_metric=c.get("cell_metric", "euclidean"))
            test = dt(adata, groupby="g", contrast="control", show_progressbar=False)
        if c.get("within") == "include_self":
            ref = test["distance"]
            source = "DistanceTest (precomputed)"
        else:
            dist = pt.tl.Distance(metric, obsm_key="X_pca")
            ref = dist.onesided_distances(adata, groupby="g", selected_group="control",
                                          show_progressbar=False, **kwargs)
            source = "Distance.onesided_distances"
        ref = ref.drop("control")
        if metric == "mmd" and c["kernel"] == "linear":
            # pertbench computes ||mean X - mean Y||^2; pertpy subtracts three
            # kernel means of the size of ||mean||^2.
            means = np.array([np.sum(x[adata.obs["g"] == g].mean(0) ** 2) for g in ref.index])
            floor = float(means.max() + np.sum(x[adata.obs["g"] == "control"].mean(0) ** 2))
        w = dict(what, reference=source)
        line("groups", 0, len(set(got.index) ^ set(ref.index)), **w)
        both = ref.index.intersection(got.index)
        line("distance", 1e-9, relative(got.loc[both, "distance"], ref[both], floor), n=len(both), **w)
        line("mean_distance", 1e-9, relative([value["mean_distance"]], [ref.mean()], floor), **w)
        if not tested:
            continue
        b = int(c["n_permutations"])
        t = test.drop("control")
        line("test distance", 1e-9, relative(got.loc[both, "distance"], t.loc[both, "distance"], floor),
             **w)
        # Monte Carlo: both p-values estimate one tail probability.
        p_ours = got.loc[both, "p_value"].to_numpy()
        p_ref = t.loc[both, "pvalue"].to_numpy()
        centre = (p_ours + p_ref) / 2
        bound = 4 * np.sqrt(centre * (1 - centre) / b) + 2 / b
        line("p_value within Monte Carlo error", 1.0, float(np.max(np.abs(p_ours - p_ref) / bound)),
             n=len(both), n_permutations=b, **w)
        line("tested", 0, abs(int(c["tested"]) - got["p_value"].notna().sum()), **w)
        raw = got["p_value"].dropna()
        p_list = raw.to_list()
        if c["correction"].endswith("+contrast"):
            p_list.append(1.0 / b)
        _, adjusted, _, _ = multipletests(p_list, method=CORRECTION[c["correction"].split("+")[0]])
        line("adjusted_p_value (statsmodels)", 1e-12,
             float(np.max(np.abs(got.loc[raw.index, "adjusted_p_value"].to_numpy() - adjusted[:len(raw)]))),
             **w)
        share = float(np.mean(adjusted[:len(raw)] < float(c["alpha"])))
        line("fraction_significant", 0, abs(value["fraction_significant"] - share), **w)


if __name__ == "__main__":
    main()
