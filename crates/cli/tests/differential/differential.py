"""The differential suite's reference side: reads what `pertbench run` left
in a workdir (result rows, and the cached post-processed matrices, splits
and samples those rows were computed from), recomputes each number with the
field's reference implementation on the same inputs, and prints one JSON
line per comparison.

    python differential.py WORKDIR PIPELINE RELATIONSHIP_DIR

Each check is one function in CHECKS: it names its reference, its tolerance
and any documented convention by which pertbench differs. Extending the
suite to a new metric is adding one function. The Rust side
(crates/cli/tests/differential/mod.rs) fails on any line whose `diff`
exceeds its `tolerance`, and on a check that compared nothing.
"""

import json
import sys
import warnings
import types
from pathlib import Path

import numpy as np
import pandas as pd


def stub_heavy_imports():
    """efaar-benchmarking 1.0 imports torch, geomloss, scvi, scanpy and wget at
    module level for functions this suite never calls; stubs that raise if
    used let its numpy/sklearn functions load without them."""

    def module(name, **attrs):
        m = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(m, k, v)
        sys.modules[name] = m

    def unavailable(*_a, **_k):
        raise RuntimeError("stubbed by the differential suite")

    # scipy's array-API helpers look for torch.Tensor when torch is loaded.
    module("torch", from_numpy=unavailable, Tensor=type("Tensor", (), {}))
    module("geomloss", SamplesLoss=unavailable)
    module("scvi")
    module("scvi.model", SCVI=unavailable)
    module("scanpy")
    module("wget")


stub_heavy_imports()
# efaar's and scikit-learn's warnings (ComplexWarning, single-class
# batches) would interleave with the JSON lines on stderr only; silence them.
warnings.filterwarnings("ignore")
from efaar_benchmarking import benchmarking as efaar_bench  # noqa: E402
from efaar_benchmarking import efaar  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


class Work:
    """The workdir's cache nodes by kind and label, and the result rows."""

    def __init__(self, root, pipeline):
        self.root = Path(root)
        self.results = pd.read_parquet(self.root / "results" / f"{pipeline}.parquet")
        self.nodes = {}
        for rec in (self.root / "cache").glob("*/*/node.json"):
            r = json.loads(rec.read_text())
            self.nodes[(r["kind"], r["label"])] = rec.parent
            self.nodes[(r["kind"], r["key"])] = rec.parent

    def node(self, kind, label_or_key):
        return self.nodes[(kind, label_or_key)]

    def samples(self, dataset):
        return pd.read_parquet(self.node("ingest", dataset) / "samples.parquet")

    def matrix(self, kind, label_or_key):
        d = self.node(kind, label_or_key)
        rows = pd.read_parquet(d / "rows.parquet")["row"].to_numpy()
        return np.load(d / "matrix.npy").astype(np.float64), rows

    def split(self, dataset, seed):
        sp = pd.read_parquet(self.node("split", f"{dataset}/split@{seed}") / "splits.parquet")
        return {k: set(g["row"].tolist()) for k, g in sp.groupby("split")}


def line(check, reference, tolerance, pertbench, ref, **what):
    diff = abs(pertbench - ref) if np.isfinite(pertbench) and np.isfinite(ref) else (
        0.0 if (np.isnan(pertbench) and np.isnan(ref)) else float("inf"))
    print(json.dumps(dict(check=check, reference=reference, tolerance=tolerance,
                          pertbench=pertbench, reference_value=ref, diff=diff, **what)))


def efaar_postprocessing(name, x, meta, components=None):
    """The reference of each post-processing, on the representation's
    matrix (every row), with efaar-benchmarking 1.0's conventions.
    `components` limits TVN's PCA (efaar calls scikit-learn's `PCA()`) to
    the controls' rank."""
    if name == "raw":
        return x
    if name == "center":
        # efaar has no centre-only transform: scikit-learn's StandardScaler
        # without scaling, fitted per batch on its controls.
        out = x.copy()
        for b in meta["batch"].unique():
            ib = (meta["batch"] == b).to_numpy()
            ic = ib & meta["is_control"].to_numpy()
            out[ib] = StandardScaler(with_std=False).fit(x[ic]).transform(x[ib])
        return out
    if name == "center_scale":
        return efaar.centerscale_on_controls(x, meta, "pert", "CONTROL", batch_col="batch")
    if name == "tvn":
        pca = efaar.PCA
        try:
            if components is not None:
                efaar.PCA = lambda: pca(n_components=components)
            return efaar.tvn_on_controls(x, meta, "pert", "CONTROL", batch_col="batch")
        finally:
            efaar.PCA = pca
    raise KeyError(name)


def check_postprocessing(w, _relationship_dir):
    """Each post-processed matrix against efaar's transform of the same
    representation. TVN: when the controls' rank r is below min(n, d),
    efaar keeps min(n, d) components, the last ones of zero control
    variance and arbitrary direction (its output there is not even stable:
    scipy's fractional power of the near-singular covariance goes complex);
    pertbench keeps r (issue 20), and is compared with efaar's
    `tvn_on_controls` whose `PCA()` is given n_components = r."""
    used = set(w.results["postprocess_key"])
    for (kind, label), d in sorted(w.nodes.items()):
        if kind != "postprocess" or "/" not in label or d.name not in used:
            continue
        dataset, rep, pp = label.split("/")
        s = w.samples(dataset)
        x, rows = w.matrix("representation", f"{dataset}/{rep}")
        meta = pd.DataFrame({
            "pert": np.where(s["is_control"], "CONTROL", s["perturbation"]),
            "batch": s["batch"].to_numpy(),
            "is_control": s["is_control"].to_numpy(),
        }).iloc[rows].reset_index(drop=True)
        got, got_rows = w.matrix("postprocess", label)
        if len(got_rows) != len(rows):
            keep = np.isin(rows, got_rows)
            x, meta = x[keep], meta[keep].reset_index(drop=True)
        n_ctrl = int(meta["is_control"].sum())
        k = got.shape[1]
        truncated = pp == "tvn" and k < min(n_ctrl, x.shape[1])
        want = efaar_postprocessing(pp, x, meta, components=k if truncated else None)
        conv = f"efaar's PCA() given n_components={k} (the controls' rank; it keeps {min(n_ctrl, x.shape[1])})" if truncated else ""
        err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
        line("postprocessing", "efaar-benchmarking 1.0" if pp in ("center_scale", "tvn") else "scikit-learn StandardScaler",
             1e-4, 0.0, float(err), dataset=dataset, postprocessing=pp, variant="max relative |difference|",
             convention=conv)


def check_linear_probe(w, _relationship_dir):
    """Task 2 against scikit-learn's LogisticRegression(lbfgs) on the same
    post-processed matrix and split, C = 1 / (n_train l2), features
    standardised on train, solved to the optimum (tol 1e-10; sklearn's
    default 1e-4 stops far from it on separable screens). Also compares the
    penalised loss each reached: equal optima are the sharper test."""
    rows = w.results[w.results["metric"] == "linear_probe"]
    for (dataset, pp, seed, pkey), g in rows.groupby(["dataset", "postprocessing", "seed", "postprocess_key"]):
        s = w.samples(dataset)
        x, mrows = w.matrix("postprocess", pkey)
        sp = w.split(dataset, seed)
        ctrl = s["is_control"].to_numpy()
        pert = s["perturbation"].to_numpy()
        pos = {r: i for i, r in enumerate(mrows)}
        tr = [pos[r] for r in mrows if r in sp.get("train", ()) and not ctrl[r]]
        te = [pos[r] for r in mrows if r in sp.get("test_seen", ()) and not ctrl[r]]
        classes = sorted(set(pert[mrows[tr]]))
        code = {c: i for i, c in enumerate(classes)}
        te = [i for i in te if pert[mrows[i]] in code]
        ytr = np.array([code[p] for p in pert[mrows[tr]]])
        yte = np.array([code[p] for p in pert[mrows[te]]])
        conv = g["convention"].iloc[0]
        l2 = float(conv.split("l2=")[1].split(";")[0])
        sc = StandardScaler().fit(x[tr])
        xtr = sc.transform(x[tr])
        m = LogisticRegression(C=1.0 / (len(tr) * l2), tol=1e-10, max_iter=100000).fit(xtr, ytr)
        z = xtr @ m.coef_.T + m.intercept_
        zmax = z.max(1, keepdims=True)
        lse = (zmax[:, 0] + np.log(np.exp(z - zmax).sum(1)))
        objective = float(np.mean(lse - z[np.arange(len(ytr)), ytr]) + 0.5 * l2 * (m.coef_ ** 2).sum())
        loss = float(conv.split("loss=")[1].split(";")[0])
        line("linear_probe", "scikit-learn 1.9.1 LogisticRegression(lbfgs)", 1e-4, loss / objective, 1.0,
             dataset=dataset, postprocessing=pp, variant="penalised loss / sklearn's",
             convention=f"pertbench {loss:.6e}, sklearn {objective:.6e}")
        p = m.predict_proba(sc.transform(x[te]))
        top = np.argsort(-p, axis=1, kind="stable")[:, :5]
        ref = {"top1": float(np.mean(top[:, 0] == yte)), "top5": float(np.mean((top == yte[:, None]).any(1)))}
        for _, r in g.iterrows():
            line("linear_probe", "scikit-learn 1.9.1 LogisticRegression(lbfgs)", 0.02, float(r["value"]),
                 ref[r["variant"]], dataset=dataset, postprocessing=pp, variant=r["variant"],
                 convention=f"n_train={len(tr)}; n_test={len(te)}; sklearn n_iter={int(m.n_iter_[0])}; "
                 + ";".join(c for c in conv.split(";") if c.split("=")[0] in ("steps", "converged", "stop")))


# pertbench's relationship sources by the name of efaar's own file.
EFAAR_SOURCES = {"corum": "CORUM", "humap": "HuMAP", "reactome": "Reactome", "signor": "SIGNOR", "stringdb": "StringDB"}


def relationship_file_dir(source, relationship_dir):
    """Where efaar reads `<source>.txt`: the suite's directory for generated
    sources, efaar's packaged annotations for its own five."""
    if (relationship_dir / f"{source}.txt").is_file():
        return str(relationship_dir), source
    import efaar_benchmarking.constants as cst
    return str(cst.BENCHMARK_DATA_DIR), EFAAR_SOURCES[source]


def check_relationship_recall(w, relationship_dir):
    """Task 5 against efaar's `aggregate` (mean per perturbation) and
    `known_relationship_benchmark` on the same post-processed matrix."""
    rows = w.results[w.results["metric"] == "relationship_recall"]
    rows = rows[rows["variant"].str.match(r"^recall_[0-9.]+_[0-9.]+$")]
    for (dataset, pp, seed, pkey, source), g in rows.groupby(
            ["dataset", "postprocessing", "seed", "postprocess_key", "source"]):
        s = w.samples(dataset)
        x, mrows = w.matrix("postprocess", pkey)
        keep = ~s["is_control"].to_numpy()[mrows]
        meta = pd.DataFrame({"pert": s["perturbation"].to_numpy()[mrows][keep]})
        agg = efaar.aggregate(x[keep], meta, "pert")
        pairs = [tuple(float(t) for t in v.split("_")[1:]) for v in g["variant"]]
        data_dir, efaar_source = relationship_file_dir(source, relationship_dir)
        res = efaar_bench.known_relationship_benchmark(
            agg, "pert", benchmark_sources=[efaar_source], recall_thr_pairs=pairs,
            min_req_entity_cnt=1, benchmark_data_dir=data_dir)
        for _, r in g.iterrows():
            lo, hi = (float(t) for t in r["variant"].split("_")[1:])
            ref = float(res[f"recall_{lo}_{hi}"].iloc[0])
            line("relationship_recall", "efaar-benchmarking 1.0 known_relationship_benchmark", 1e-12,
                 float(r["value"]), ref, dataset=dataset, postprocessing=pp, variant=r["variant"],
                 convention=f"source={source}")


# Every check, each `check(work, relationship_dir)`; a new metric's
# comparison is one more function here.
CHECKS = [check_postprocessing, check_linear_probe, check_relationship_recall]


def main():
    w = Work(sys.argv[1], sys.argv[2])
    for check in CHECKS:
        check(w, Path(sys.argv[3]))


if __name__ == "__main__":
    main()
