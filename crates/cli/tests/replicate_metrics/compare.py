"""cytominer-eval on the plate pertbench scored: for every row of a run of
`replicate_reproducibility`, `precision_recall`, `enrichment` and `grit`,
the same operation with the row's options, compared with pertbench's row
and details. Prints one JSON line per comparison (check, tolerance, diff).

cytominer-eval 0.1 (PyPI's only release) runs replicate_reproducibility,
precision_recall (grouped by its replicate groups) and grit through its
own `evaluate`. Its GitHub head adds `groupby_columns` to precision_recall
and the enrichment operation; those are transcribed here on 0.1's own
melt (`metric_melt`, `assign_replicates`): sort by similarity, group,
head(k) for precision; the quantile of the melted similarities, the four
counts and scipy's fisher_exact(alternative='greater') for enrichment.

    python compare.py WORKDIR PIPELINE PLATE_CSV
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from suite_lines import convention_of, line  # noqa: E402
from cytominer_eval import evaluate  # noqa: E402
from cytominer_eval.operations.util import assign_replicates, calculate_mahalanobis  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from cytominer_eval.transform import metric_melt  # noqa: E402

COLUMN = {"perturbation": "Metadata_broad_sample", "batch": "Metadata_Plate",
          "annotation": "Metadata_gene", "sample": "Metadata_Well"}

def columns(text):
    return [COLUMN[c] for c in text.split("+")]


def max_diff(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return float("inf")
    both_nan = np.isnan(a) & np.isnan(b)
    d = np.abs(a - b)
    d[both_nan] = 0
    return float(np.max(d)) if d.size else 0.0


def relative(got, want, floor):
    """|got - want| / max(|want|, floor); 0 when equal (two infinities)."""
    if got == want or (np.isnan(got) and np.isnan(want)):
        return 0.0
    return abs(got - want) / max(abs(want), floor)


def group_name(row, cols):
    return "/".join(str(row[c]) for c in cols)


def main():
    work, pipeline, plate_csv = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    plate = pd.read_csv(plate_csv)
    meta_cols = [c for c in plate.columns if c.startswith("Metadata_")]
    features = [c for c in plate.columns if not c.startswith("Metadata_")]
    results = pd.read_parquet(work / "results" / f"{pipeline}.parquet")
    nodes = {}
    for rec in (work / "cache").glob("*/*/node.json"):
        r = json.loads(rec.read_text())
        nodes[(r["kind"], r["key"])] = rec.parent
    seen = set()
    for _, r in results.iterrows():
        if r["metric_key"] in seen:
            continue
        seen.add(r["metric_key"])
        c = convention_of(r["convention"])
        rows = results[results["metric_key"] == r["metric_key"]]
        value = dict(zip(rows["variant"], rows["value"]))
        details = pd.read_parquet(nodes[("metric", r["metric_key"])] / "details.parquet")
        what = dict(metric=r["metric"])
        df = plate
        if c.get("samples") == "treated":
            df = plate[~plate["Metadata_control"]].reset_index(drop=True)
        similarity = c.get("similarity")
        if "constant_samples" in c:
            line("constant samples", 0, abs(int(c["constant_samples"].split(" ")[0]) - 1), **what)

        if "fraction_replicating" in value:
            reps = columns(c["replicate_groups"])
            frac, medians = evaluate(df, features, meta_cols, reps,
                                     operation="replicate_reproducibility",
                                     similarity_metric=similarity,
                                     replicate_reproducibility_quantile=float(c["quantile"]),
                                     replicate_reproducibility_return_median_cor=True)
            line("fraction_replicating", 1e-12, abs(value["fraction_replicating"] - frac), **what)
            melted = assign_replicates(metric_melt(df, features, meta_cols, similarity_metric=similarity,
                                                   eval_metric="replicate_reproducibility"), reps)
            q = melted.query("not group_replicate").similarity_metric.quantile(float(c["quantile"]))
            line("null_quantile", 1e-12, abs(value["null_quantile"] - q), **what)
            medians["name"] = [group_name(m, reps) for _, m in medians.iterrows()]
            got = details.set_index("replicate_group")["median_correlation"]
            ref = medians.set_index("name")["similarity_metric"]
            line("median groups", 0, len(set(got.index) ^ set(ref.index)), **what)
            both = got.index.intersection(ref.index)
            line("median_correlation", 1e-12, max_diff(got[both], ref[both]), n=len(both), **what)

        if any(v.startswith("precision_at_") for v in value):
            reps, groups = columns(c["replicate_groups"]), columns(c["group_by"])
            ks = sorted({int(v.rsplit("_", 1)[1]) for v in value if v.startswith("precision_at_")})
            melted = assign_replicates(metric_melt(df, features, meta_cols, similarity_metric=similarity,
                                                   eval_metric="precision_recall"), reps)
            melted = melted.sort_values("similarity_metric", ascending=False)
            for k in ks:
                if groups == reps:
                    ref = evaluate(df, features, meta_cols, reps, operation="precision_recall",
                                   similarity_metric=similarity, precision_recall_k=k)
                    source = "cytominer_eval 0.1"
                else:
                    by = [f"{g}_pair_a" for g in groups]
                    ref = melted.groupby(by).apply(lambda x: pd.Series(dict(
                        precision=x.group_replicate.iloc[:k].sum() / k,
                        recall=x.group_replicate.iloc[:k].sum() / x.group_replicate.sum()
                        if x.group_replicate.sum() else np.nan))).reset_index()
                    ref = ref.rename(columns=dict(zip(by, groups)))
                    source = "github head (transcribed)"
                ref["name"] = [group_name(m, groups) for _, m in ref.iterrows()]
                ref = ref.set_index("name")
                got = details[details["k"] == k].set_index("group")
                w = dict(what, k=k, reference=source)
                line("precision groups", 0, len(set(got.index) ^ set(ref.index)), **w)
                both = got.index.intersection(ref.index)
                line("precision", 1e-12, max_diff(got.loc[both, "precision"], ref.loc[both, "precision"]), **w)
                line("recall", 1e-12, max_diff(got.loc[both, "recall"].astype(float), ref.loc[both, "recall"]), **w)
                line("precision_at_k", 1e-12, abs(value[f"precision_at_{k}"] - ref["precision"].mean()), **w)
                line("recall_at_k", 1e-12, abs(value[f"recall_at_{k}"] - ref["recall"].dropna().mean()), **w)

        if any(v.startswith("odds_ratio_") for v in value):
            reps = columns(c["replicate_groups"])
            melted = assign_replicates(metric_melt(df, features, meta_cols, similarity_metric=similarity,
                                                   eval_metric="precision_recall"), reps)
            if c["pairs"] == "unordered":
                melted = melted[melted["pair_a_index"] < melted["pair_b_index"]]
            for _, t in details.iterrows():
                p = float(t["percentile"])
                w = dict(what, percentile=p, pairs=c["pairs"])
                threshold = melted.similarity_metric.quantile(p)
                rep, top = melted["group_replicate"], melted["similarity_metric"] > threshold
                table = np.asarray([[(rep & top).sum(), (~rep & top).sum()],
                                    [(rep & ~top).sum(), (~rep & ~top).sum()]])
                odds, pvalue = scipy.stats.fisher_exact(table, alternative="greater")
                got = np.asarray([[t["replicate_above"], t["non_replicate_above"]],
                                  [t["replicate_below"], t["non_replicate_below"]]])
                line("enrichment table", 0, np.abs(got - table).max(), **w)
                line("enrichment threshold", 1e-12, abs(t["threshold"] - threshold), **w)
                line("odds_ratio", 1e-12, relative(t["odds_ratio"], odds, 1.0), **w)
                # scipy's hypergeometric tail is itself off by up to ~1e-9
                # relative at these counts (the kernel test holds the exact sums).
                line("enrichment p_value", 1e-8, relative(t["p_value"], pvalue, 1e-300), **w)
                for variant, v in (("odds_ratio", odds), ("p_value", pvalue), ("threshold", threshold)):
                    got_v = value.get(f"{variant}_{p}")
                    ok = (got_v is None or np.isnan(got_v)) if not np.isfinite(v) else \
                        abs(got_v - v) <= 1e-8 * max(1.0, abs(v))
                    line("enrichment rows", 0, 0 if ok else 1, variant=variant, **w)

        if "mean_grit" in value:
            ref = evaluate(df, features, meta_cols,
                           {"profile_col": "Metadata_broad_sample", "replicate_group_col": "Metadata_gene"},
                           operation="grit", similarity_metric=similarity,
                           grit_control_perts=["DMSO"], grit_replicate_summary_method=c["summary"])
            ref = ref[ref["perturbation"] != "DMSO"].set_index("perturbation")
            got = details.set_index("perturbation")
            line("grit perturbations", 0, len(set(got.index) ^ set(ref.index)), **what)
            both = got.index.intersection(ref.index)
            line("grit", 1e-12, max_diff(got.loc[both, "grit"].astype(float), ref.loc[both, "grit"].astype(float)),
                 n=len(both), **what)
            line("grit groups", 0, int((got.loc[both, "group"] != ref.loc[both, "group"]).sum()), **what)
            line("mean_grit", 1e-12, abs(value["mean_grit"] - ref["grit"].astype(float).dropna().mean()), **what)


        if "median_statistic" in value:
            compare_mp_value(df, features, meta_cols, r, c, value, details, what)


def compare_mp_value(df, features, meta_cols, r, c, value, details, what):
    """cytominer-eval's mp_value after np.random.seed(the run's seed): its
    relabellings are pertbench's, so the p-values are equal; the
    statistic and the number of components recomputed with cytominer-eval's
    own steps (sklearn's PCA, its calculate_mahalanobis)."""
    n_perm = int(c["n_permutations"])
    rescale = c["rescale_pca"] == "true"
    np.random.seed(int(r["seed"]))
    ref = evaluate(df, features, meta_cols, "Metadata_broad_sample", operation="mp_value",
                   grit_control_perts=["DMSO"],
                   mp_value_params={"rescale_pca": rescale, "nb_permutations": n_perm})
    ref = ref[ref["Metadata_broad_sample"] != "DMSO"].set_index("Metadata_broad_sample")["mp_value"]
    got = details.set_index("perturbation")
    line("mp_value perturbations", 0, len(set(got.index) ^ set(ref.index)), **what)
    both = got.index.intersection(ref.index)
    want = ref[both] if c["pvalue"].startswith("cytominer") else (ref[both] * n_perm + 1) / (n_perm + 1)
    # The same draws again: a relabelling that picks exactly the observed
    # samples is as far as the observation; pertbench counts it, and
    # cytominer-eval's statistic of it can round 1e-14 below and miss it.
    np.random.seed(int(r["seed"]))
    n_controls = int((df["Metadata_broad_sample"] == "DMSO").sum())
    same = {}
    for name, g in df.groupby("Metadata_broad_sample"):
        mask = np.zeros(len(g) + n_controls, dtype=bool)
        mask[:len(g)] = True
        same[name] = sum(bool(np.random.permutation(mask)[:len(g)].all()) for _ in range(n_perm))
    slack = np.asarray([same[b] for b in both]) / n_perm
    diff = np.abs(got.loc[both, "p_value"].to_numpy() - want.to_numpy())
    line("mp_value p_value", 1e-12, float(np.max(np.maximum(diff - slack, 0))), n=len(both),
         pvalue=c["pvalue"], equal_within_same_draws=int((diff > 1e-12).sum()),
         same_draws=int(sum(same[b] for b in both)), **what)
    controls = df.loc[df["Metadata_broad_sample"] == "DMSO", features]
    stats, comps = [], []
    for pert in both:
        merged = pd.concat([df.loc[df["Metadata_broad_sample"] == pert, features], controls]).reset_index(drop=True)
        pca = PCA(n_components=0.9, svd_solver="full")
        y = pca.fit_transform(merged)
        if rescale:
            y = y * pca.explained_variance_ratio_
        n_p = int((df["Metadata_broad_sample"] == pert).sum())
        stats.append(calculate_mahalanobis(pert_df=y[:n_p], control_df=y[-len(controls):]))
        comps.append(pca.n_components_)
    stats = np.asarray(stats)
    line("mp_value statistic", 1e-9, float(np.max(np.abs(got.loc[both, "statistic"] - stats) / stats)), **what)
    line("mp_value components", 0, int(np.abs(got.loc[both, "n_components"].to_numpy() - np.asarray(comps)).max()), **what)
    threshold = float(c["threshold"])
    line("fraction_below_p", 1e-12, abs(value["fraction_below_p"] - (want < threshold).mean()), **what)


if __name__ == "__main__":
    main()
