"""copairs 0.5.2 on the plates pertbench scored: for every `map` row of a
run, the same recipe in copairs (assign_reference_index on the DMSO
wells, average_precision with the positive and negative rules of the row's
`controls`, mean_average_precision with its null size, threshold and
seed), compared per compound with pertbench's details. Prints one JSON line
per comparison (check, tolerance, diff).

    python compare_map.py WORKDIR PIPELINE PLATE_DIR
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
from copairs import map as copairs_map  # noqa: E402
from copairs.matching import assign_reference_index  # noqa: E402

COMPOUND, PLATE, REF = "Metadata_broad_sample", "Metadata_Plate", "Metadata_reference_index"
TARGET = "Metadata_target"

def copairs_run(plate, similarity, controls, null_size, seed, threshold, cache_dir):
    meta_cols = [c for c in plate.columns if c.startswith("Metadata_")]
    feats = plate[[c for c in plate.columns if not c.startswith("Metadata_")]].to_numpy()
    meta = assign_reference_index(plate[meta_cols].copy(), "Metadata_control",
                                  reference_col=REF, default_value=-1)
    ap = copairs_map.average_precision(
        meta, feats, pos_sameby=[COMPOUND, REF], pos_diffby=[],
        neg_sameby=[PLATE] if controls == "same_batch" else [],
        neg_diffby=[COMPOUND, REF], distance=similarity, progress_bar=False)
    ap = ap[~ap["Metadata_control"]]
    # copairs 0.5.2's progress_bar=False path fails (its silent_thread_map
    # passes tqdm's `leave` to Executor.map); tqdm writes to stderr only.
    # Its null cache goes under the workdir, not ~/.copairs.
    maps = copairs_map.mean_average_precision(ap, [COMPOUND], null_size=null_size,
                                              threshold=threshold, seed=seed, progress_bar=True,
                                              cache_dir=cache_dir)
    return maps.set_index(COMPOUND)


def copairs_consistency(plate, active, similarity, separator, null_size, seed, threshold,
                        cache_dir):
    """copairs' phenotypic consistency example: the active compounds'
    median profiles (rounded to float32, as pertbench's), the target split
    at the separator, multilabel AP (or the single-label AP without one)."""
    feature_cols = [c for c in plate.columns if not c.startswith("Metadata_")]
    df = plate[plate[COMPOUND].isin(active)]
    df = df.groupby([COMPOUND, TARGET], as_index=False)[feature_cols].median()
    df[feature_cols] = df[feature_cols].astype(np.float32).astype(np.float64)
    meta = df[[COMPOUND, TARGET]].copy()
    feats = df[feature_cols].to_numpy()
    if separator:
        meta[TARGET] = meta[TARGET].str.split(separator)
        ap = copairs_map.multilabel.average_precision(
            meta, feats, pos_sameby=[TARGET], pos_diffby=[], neg_sameby=[],
            neg_diffby=[TARGET], multilabel_col=TARGET, distance=similarity,
            progress_bar=False)
    else:
        ap = copairs_map.average_precision(
            meta, feats, pos_sameby=[TARGET], pos_diffby=[], neg_sameby=[],
            neg_diffby=[TARGET], distance=similarity, progress_bar=False)
    maps = copairs_map.mean_average_precision(ap, [TARGET], null_size=null_size,
                                              threshold=threshold, seed=seed, progress_bar=True,
                                              cache_dir=cache_dir)
    return maps.set_index(TARGET)


def compare_consistency(r, c, results, nodes, plates, work):
    """A map_consistency row against copairs' recipe (copairs' activity
    selection when the row selected active compounds)."""
    plate = pd.read_parquet(plates / f"{r['dataset']}.parquet")
    what = dict(dataset=r["dataset"], metric=r["metric"], seed=int(r["seed"]),
                similarity=c["similarity"], separator=c["separator"])
    selection = c["perturbations"]
    if selection.startswith("active"):
        controls = "same_batch" if "controls=same_batch" in selection else "all"
        act = copairs_run(plate, c["similarity"], controls, int(c["null_size"]), int(r["seed"]),
                          float(c["threshold"]), cache_dir(work, r, "activity"))
        active = act.index[act["below_corrected_p"]]
        n_active = int(selection.split(":")[1].split("/")[0])
        line("active_compounds", 0, abs(n_active - len(active)), **what)
    else:
        active = plate.loc[~plate["Metadata_control"], COMPOUND].unique()
    got = pd.read_parquet(nodes[("metric", r["metric_key"])] / "details.parquet").set_index("label")
    try:
        ref = copairs_consistency(plate, active, c["similarity"], c["separator"],
                                  int(c["null_size"]), int(r["seed"]), float(c["threshold"]),
                                  cache_dir(work, r, "consistency"))
    except Exception as e:  # copairs raises when no label has two holders
        line("labels", 0, len(got), copairs=f"{type(e).__name__}: {e}", **what)
        return
    frac = results[(results["metric_key"] == r["metric_key"]) & (results["variant"] == "fraction_consistent")]
    if c["pvalue"].startswith("copairs"):
        line("labels", 0, len(set(got.index) ^ set(ref.index)), n=len(ref), **what)
        both = got.index.intersection(ref.index)
        g, f = got.loc[both], ref.loc[both]
        line("consistency mean_average_precision", 1e-12,
             np.max(np.abs(g["mean_average_precision"] - f["mean_average_precision"])), **what)
        line("consistency mean_map", 1e-12,
             abs(float(r["value"]) - f["mean_average_precision"].mean()), **what)
        line("consistency p_value", 0, np.max(np.abs(g["p_value"] - f["p_value"])), **what)
        line("consistency corrected_p_value", 1e-12,
             np.max(np.abs(g["corrected_p_value"] - f["corrected_p_value"])), **what)
        line("consistency below_corrected_p", 0,
             int((g["below_corrected_p"] != f["below_corrected_p"]).sum()), **what)
        line("fraction_consistent", 1e-12,
             abs(float(frac["value"].iloc[0]) - f["below_corrected_p"].mean()), **what)
    elif r["dataset"] == "null_plate" and not selection.startswith("active"):
        # The permutation test: uniform p-values when labels carry nothing.
        p = got["p_value"].to_numpy()
        for level in (0.05, 0.25, 0.5):
            share = float(np.mean(p <= level))
            se = (level * (1 - level) / len(p)) ** 0.5
            line(f"consistency calibration p<={level}", 4 * se, abs(share - level),
                 share=share, n=len(p), **what)
    else:
        # The permutation test's observed mAP is the label's mAP.
        both = got.index.intersection(ref.index)
        line("consistency labels (permutation)", 0, len(set(got.index) ^ set(ref.index)), **what)
        line("consistency mean_average_precision (permutation)", 1e-12,
             np.max(np.abs(got.loc[both, "mean_average_precision"]
                           - ref.loc[both, "mean_average_precision"])), **what)


def cache_dir(work, r, purpose):
    """copairs keys its null cache by seed, null size and configuration,
    not by the configuration's own seed: one directory per comparison."""
    return work / "copairs_cache" / f"{r['metric_key']}_{r['seed']}_{purpose}"


def main():
    work, pipeline, plates = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    results = pd.read_parquet(work / "results" / f"{pipeline}.parquet")
    nodes = {}
    for rec in (work / "cache").glob("*/*/node.json"):
        r = json.loads(rec.read_text())
        nodes[(r["kind"], r["key"])] = rec.parent
    rows = results[results["variant"] == "mean_map"]
    if rows.empty:
        print(json.dumps(dict(check="rows", tolerance=0, diff=float("inf"), what="no map rows")))
    for _, r in rows.iterrows():
        c = convention_of(r["convention"])
        if "separator" in c:
            compare_consistency(r, c, results, nodes, plates, work)
            continue
        plate = pd.read_parquet(plates / f"{r['dataset']}.parquet")
        what = dict(dataset=r["dataset"], metric=r["metric"], seed=int(r["seed"]),
                    similarity=c["similarity"], controls=c["controls"])
        ref = copairs_run(plate, c["similarity"], c["controls"], int(c["null_size"]),
                          int(r["seed"]), float(c["threshold"]), cache_dir(work, r, "activity"))
        got = pd.read_parquet(nodes[("metric", r["metric_key"])] / "details.parquet").set_index("perturbation")
        line("compounds", 0, len(set(got.index) ^ set(ref.index)), n=len(ref), **what)
        both = got.index.intersection(ref.index)
        g, f = got.loc[both], ref.loc[both]
        line("mean_average_precision", 1e-12,
             np.max(np.abs(g["mean_average_precision"] - f["mean_average_precision"])), **what)
        line("mean_map", 1e-12, abs(float(r["value"]) - f["mean_average_precision"].mean()), **what)
        frac = results[(results["metric_key"] == r["metric_key"]) & (results["variant"] == "fraction_active")]
        line("fraction_active_of_details", 1e-12,
             abs(float(frac["value"].iloc[0]) - g["below_corrected_p"].mean()), **what)
        if c["pvalue"].startswith("copairs"):
            # copairs' own p-values, exactly.
            line("p_value", 0, np.max(np.abs(g["p_value"] - f["p_value"])), **what)
            line("corrected_p_value", 1e-12,
                 np.max(np.abs(g["corrected_p_value"] - f["corrected_p_value"])), **what)
            line("below_corrected_p", 0, int((g["below_corrected_p"] != f["below_corrected_p"]).sum()), **what)
            line("below_p", 0, int((g["below_p"] != f["below_p"]).sum()), **what)
            line("fraction_active", 1e-12, abs(float(frac["value"].iloc[0]) - f["below_corrected_p"].mean()), **what)
        elif r["dataset"] == "null_plate":
            # The permutation test: uniform p-values on the null plate.
            p = g["p_value"].to_numpy()
            for level in (0.05, 0.25, 0.5):
                share = float(np.mean(p <= level))
                se = (level * (1 - level) / len(p)) ** 0.5
                line(f"calibration p<={level}", 4 * se, abs(share - level), share=share, **what)


if __name__ == "__main__":
    main()
