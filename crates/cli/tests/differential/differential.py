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


def probe_task(w, dataset, seed, pkey):
    """Task 2's inputs as pertbench forms them: the post-processed matrix,
    the positions of the train and test_seen non-controls (test samples of
    perturbations absent from train dropped), and their class codes (sorted
    perturbation names)."""
    s = w.samples(dataset)
    x, mrows = w.matrix("postprocess", pkey)
    sp = w.split(dataset, seed)
    ctrl = s["is_control"].to_numpy()
    pert = s["perturbation"].to_numpy()
    pos = {r: i for i, r in enumerate(mrows)}
    tr = [pos[r] for r in mrows if r in sp.get("train", ()) and not ctrl[r]]
    te = [pos[r] for r in mrows if r in sp.get("test_seen", ()) and not ctrl[r]]
    code = {c: i for i, c in enumerate(sorted(set(pert[mrows[tr]])))}
    te = [i for i in te if pert[mrows[i]] in code]
    ytr = np.array([code[p] for p in pert[mrows[tr]]])
    yte = np.array([code[p] for p in pert[mrows[te]]])
    return x, tr, te, ytr, yte


def check_linear_probe(w, _relationship_dir):
    """Task 2 against scikit-learn's LogisticRegression(lbfgs) on the same
    post-processed matrix and split, C = 1 / (n_train l2), features
    standardised on train, solved to the optimum (tol 1e-10; sklearn's
    default 1e-4 stops far from it on separable screens). Also compares the
    penalised loss each reached: equal optima are the sharper test."""
    rows = w.results[w.results["metric"] == "linear_probe"]
    for (dataset, pp, seed, pkey), g in rows.groupby(["dataset", "postprocessing", "seed", "postprocess_key"]):
        x, tr, te, ytr, yte = probe_task(w, dataset, seed, pkey)
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


def check_linear_ridge(w, _relationship_dir):
    """Task 2's closed-form variant (`solver: ridge`, rows `linear_ridge`)
    against scikit-learn's RidgeClassifier(alpha = ridge_lambda) on features
    standardised on train (its +-1 targets give the one-hot ridge's scores
    times 2 minus a constant per sample, so the same ranking): top1 and
    top5 of its decision function on the perturbed test_seen samples.
    pertbench solves in f64 from f32 standardised features and scores in
    f32; a near-tie can rank two classes apart, hence the tolerance of one
    test sample in 500."""
    from sklearn.linear_model import RidgeClassifier
    rows = w.results[w.results["metric"] == "linear_ridge"]
    for (dataset, pp, seed, pkey), g in rows.groupby(["dataset", "postprocessing", "seed", "postprocess_key"]):
        x, tr, te, ytr, yte = probe_task(w, dataset, seed, pkey)
        lam = float(g["convention"].iloc[0].split("ridge_lambda=")[1].split(";")[0])
        sc = StandardScaler().fit(x[tr])
        m = RidgeClassifier(alpha=lam).fit(sc.transform(x[tr]), ytr)
        z = m.decision_function(sc.transform(x[te]))
        top = np.argsort(-z, axis=1, kind="stable")[:, :5]
        ref = {"top1": float(np.mean(top[:, 0] == yte)), "top5": float(np.mean((top == yte[:, None]).any(1)))}
        for _, r in g.iterrows():
            line("linear_ridge", "scikit-learn 1.9.1 RidgeClassifier", 2e-3, float(r["value"]), ref[r["variant"]],
                 dataset=dataset, postprocessing=pp, variant=r["variant"],
                 convention=f"ridge_lambda={lam}; n_train={len(tr)}; n_test={len(te)}")


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


def metric_details(w, key):
    """A metric node's per-item table (details.parquet)."""
    return pd.read_parquet(w.node("metric", key) / "details.parquet")


def meta_of(w, dataset, rows):
    s = w.samples(dataset)
    return (s["perturbation"].to_numpy()[rows], s["is_control"].to_numpy()[rows],
            s["batch"].to_numpy()[rows])


def check_consistency(w, _relationship_dir):
    """Task 3: each perturbation's avgsim against efaar's
    `pert_signal_consistency_metric` (mean of the lower-triangle cosine
    similarities of its samples) on the same post-processed matrix."""
    rows = w.results[(w.results["metric"] == "consistency") & (w.results["variant"] == "mean_avgsim")]
    for _, r in rows.iterrows():
        x, mrows = w.matrix("postprocess", r["postprocess_key"])
        pert, ctrl, _ = meta_of(w, r["dataset"], mrows)
        d = metric_details(w, r["metric_key"])
        worst, n = 0.0, 0
        for p, got in zip(d["perturbation"], d["avgsim"]):
            ref = efaar_bench.pert_signal_consistency_metric(x[(pert == p) & ~ctrl])
            worst = max(worst, abs(float(got) - float(ref)))
            n += 1
        line("consistency", "efaar-benchmarking 1.0 pert_signal_consistency_metric", 1e-9, worst, 0.0,
             dataset=r["dataset"], postprocessing=r["postprocessing"], variant="avgsim, max |diff| per perturbation",
             convention=f"{n} perturbations")
        ref_mean = np.mean([efaar_bench.pert_signal_consistency_metric(x[(pert == p) & ~ctrl]) for p in d["perturbation"]])
        line("consistency", "efaar-benchmarking 1.0 pert_signal_consistency_metric", 1e-9, float(r["value"]),
             float(ref_mean), dataset=r["dataset"], postprocessing=r["postprocessing"], variant="mean_avgsim")


def check_knn(w, _relationship_dir):
    """Task 4 against scikit-learn's KNeighborsClassifier (brute force,
    Euclidean, weights 1 / (d + 1e-5), the same k) fitted on the train
    samples (controls one class) and queried with the perturbed test_seen
    samples: top1 = its most probable class, top5 = among its five most
    probable (stable order) that got a vote (documented convention: sklearn's
    ranking also fills the five with classes of probability 0)."""
    from sklearn.neighbors import KNeighborsClassifier
    rows = w.results[w.results["metric"] == "knn"]
    for (dataset, pp, seed, pkey), g in rows.groupby(["dataset", "postprocessing", "seed", "postprocess_key"]):
        x, mrows = w.matrix("postprocess", pkey)
        pert, ctrl, _ = meta_of(w, dataset, mrows)
        sp = w.split(dataset, seed)
        label = np.where(ctrl, "\u0000control", pert)
        tr = np.array([r in sp.get("train", ()) for r in mrows])
        te = np.array([r in sp.get("test_seen", ()) for r in mrows]) & ~ctrl
        conv = g["convention"].iloc[0]
        k = int(conv.split("k=")[1].split(" ")[0].split(";")[0])
        m = KNeighborsClassifier(n_neighbors=k, weights=lambda d: 1.0 / (d + 1e-5), algorithm="brute",
                                 metric="euclidean").fit(x[tr], label[tr])
        p = m.predict_proba(x[te])
        top = np.argsort(-p, axis=1, kind="stable")[:, :5]
        truth = np.searchsorted(m.classes_, label[te])
        known = np.isin(label[te], m.classes_)
        # A class no neighbour voted for has probability 0: argsort would
        # still rank it (by class order) when fewer than five classes got
        # votes; pertbench's top 5 holds voted classes only.
        voted = np.take_along_axis(p, top, axis=1) > 0
        ref = {"top1": float(np.mean((top[:, 0] == truth) & known)),
               "top5": float(np.mean(((top == truth[:, None]) & voted).any(1) & known))}
        for _, r in g.iterrows():
            if pd.isna(r["value"]):
                continue
            line("knn", "scikit-learn 1.9.1 KNeighborsClassifier", 1e-12, float(r["value"]), ref[r["variant"]],
                 dataset=dataset, postprocessing=pp, variant=r["variant"],
                 convention=f"k={k}; {int(te.sum())} queries; {int(tr.sum())} reference samples")


def check_ilisi(w, _relationship_dir):
    """Task 1 (`on: all`) against harmonypy's `compute_lisi` on every
    sample of the post-processed matrix by batch, same perplexity: the mean
    and median of the per-sample LISI, and scaled = (median - 1) / (B - 1)."""
    from harmonypy import compute_lisi
    rows = w.results[w.results["metric"] == "ilisi"]
    for (dataset, pp, pkey), g in rows.groupby(["dataset", "postprocessing", "postprocess_key"]):
        conv = g["convention"].iloc[0]
        if "on=all" not in conv:
            continue
        perplexity = float(conv.split("perplexity=")[1].split(";")[0])
        x, mrows = w.matrix("postprocess", pkey)
        _, _, batch = meta_of(w, dataset, mrows)
        lisi = compute_lisi(x, pd.DataFrame({"batch": batch}), ["batch"], perplexity=perplexity)[:, 0]
        b = len(set(batch))
        med = float(np.median(lisi))
        ref = {"ilisi_mean": float(lisi.mean()), "ilisi_median": med, "ilisi_scaled": (med - 1) / (b - 1)}
        for _, r in g.iterrows():
            line("ilisi", "harmonypy 2.1.0 compute_lisi", 1e-6, float(r["value"]), ref[r["variant"]],
                 dataset=dataset, postprocessing=pp, variant=r["variant"], convention=f"perplexity={perplexity}; {len(lisi)} samples")


def check_distribution(w, _relationship_dir):
    """Energy distance and MMD^2 per unit (details) on the same
    post-processed matrix: `energy: v_statistic` against dcor 0.6's
    `energy_distance` (all pairs, i = j included); the default U-statistic
    and the unbiased RBF MMD^2 (bandwidth: the median distance of the pooled
    sample) against their definitions in numpy/scipy, which no PyPI package
    in this environment implements with these conventions."""
    import dcor
    from scipy.spatial.distance import cdist, pdist
    rows = w.results[(w.results["metric"].str.startswith("distribution")) & (w.results["variant"] == "mean_energy")]
    for _, r in rows.iterrows():
        x, mrows = w.matrix("postprocess", r["postprocess_key"])
        pert, ctrl, _ = meta_of(w, r["dataset"], mrows)
        conv = r["convention"]
        energy_kind = conv.split("energy=")[1].split(";")[0]
        d = metric_details(w, r["metric_key"])
        y = x[ctrl]
        worst_e, worst_m, n = 0.0, 0.0, 0
        for p, e, mmd in zip(d["perturbation"], d["energy"], d["mmd2"]):
            xa = x[(pert == p) & ~ctrl]
            if energy_kind == "v_statistic":
                ref_e = float(dcor.energy_distance(xa, y))
            else:
                nx, ny = len(xa), len(y)
                ref_e = (2 * cdist(xa, y).mean() - pdist(xa).sum() * 2 / (nx * (nx - 1))
                         - pdist(y).sum() * 2 / (ny * (ny - 1)))
            worst_e = max(worst_e, abs(float(e) - ref_e) / max(1.0, abs(ref_e)))
            if mmd is not None and not pd.isna(mmd):
                sigma = np.median(pdist(np.vstack([xa, y])))
                gamma = 1.0 / (2 * sigma * sigma)
                kxx, kyy, kxy = (np.exp(-gamma * cdist(a, b, "sqeuclidean")) for a, b in ((xa, xa), (y, y), (xa, y)))
                nx, ny = len(xa), len(y)
                ref_m = ((kxx.sum() - nx) / (nx * (nx - 1)) + (kyy.sum() - ny) / (ny * (ny - 1))
                         - 2 * kxy.mean())
                worst_m = max(worst_m, abs(float(mmd) - ref_m) / max(1.0, abs(ref_m)))
            n += 1
        ref_name = "dcor 0.6 energy_distance" if energy_kind == "v_statistic" else "definition (scipy cdist)"
        line("distribution", ref_name, 1e-9, worst_e, 0.0, dataset=r["dataset"], postprocessing=r["postprocessing"],
             variant=f"energy ({energy_kind}), max relative |diff| per unit", convention=f"{n} units")
        if "mmd=off" not in conv:
            line("distribution", "definition (scipy cdist)", 1e-9, worst_m, 0.0, dataset=r["dataset"],
                 postprocessing=r["postprocessing"], variant="mmd2 (rbf, median bandwidth, unbiased), max relative |diff| per unit",
                 convention=f"{n} units")


def counts_of(w, dataset):
    """The ingest node's count cache (CSR: indptr.u64, indices.u16/u32,
    values.f32), one row per sample, as a scipy CSR matrix."""
    from scipy.sparse import csr_matrix
    d = w.node("ingest", dataset) / "counts"
    meta = json.loads((d / "counts.json").read_text())
    idx = np.fromfile(d / f"indices.u{8 * meta['index_bytes']}", dtype=f"<u{meta['index_bytes']}")
    return csr_matrix((np.fromfile(d / "values.f32", dtype="<f4").astype(np.float64), idx.astype(np.int64),
                       np.fromfile(d / "indptr.u64", dtype="<u8").astype(np.int64)),
                      shape=(meta["nrows"], meta["ncols"]))


def check_interpretability(w, _relationship_dir):
    """Task 6 against scikit-learn's Ridge(alpha = ridge_lambda, intercept
    unpenalised) from the post-processed matrix to lognorm expression
    (log1p(count / row total x 1e4)), fitted on train (controls included),
    predicting test_unseen (controls included); per-gene Spearman (scipy,
    average ranks), Pearson and R^2 averaged over genes not constant in the
    test set (a constant prediction counts as correlation 0), MSE and MAE
    over all entries; Structural Integrity by its definition (METRICS.md
    Task 6: per test batch, prediction and truth centred on the batch's
    control rows, perturbed rows compared), which no package implements."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.linear_model import Ridge
    rows = w.results[w.results["metric"] == "interpretability"]
    for (dataset, pp, seed, pkey), g in rows.groupby(["dataset", "postprocessing", "seed", "postprocess_key"]):
        conv = g["convention"].iloc[0]
        if "target=lognorm" not in conv or "si_rows=perturbed" not in conv:
            continue
        lam = float(conv.split("ridge_lambda=")[1].split(";")[0])
        x, mrows = w.matrix("postprocess", pkey)
        _, ctrl, batch = meta_of(w, dataset, mrows)
        sp = w.split(dataset, seed)
        tr = np.array([r in sp.get("train", ()) for r in mrows])
        te = np.array([r in sp.get("test_unseen", ()) for r in mrows])
        c = counts_of(w, dataset)
        total = np.asarray(c.sum(1)).ravel()

        def lognorm(sample_rows):
            m = c[sample_rows].toarray()
            t = total[sample_rows][:, None]
            return np.log1p(np.divide(m, t, out=np.zeros_like(m), where=t > 0) * 1e4)

        ytr, yte = lognorm(mrows[tr]), lognorm(mrows[te])
        pred = Ridge(alpha=lam).fit(x[tr], ytr).predict(x[te])
        scored = [j for j in range(yte.shape[1]) if np.ptp(yte[:, j]) > 0]

        def corr(f, j):
            return 0.0 if np.ptp(pred[:, j]) == 0 else float(f(pred[:, j], yte[:, j])[0])

        ref = {
            "spearman": float(np.mean([corr(spearmanr, j) for j in scored])),
            "pearson": float(np.mean([corr(pearsonr, j) for j in scored])),
            "r2": float(np.mean([1 - ((yte[:, j] - pred[:, j]) ** 2).sum() / ((yte[:, j] - yte[:, j].mean()) ** 2).sum()
                                 for j in scored])),
            "mse": float(((pred - yte) ** 2).mean()),
            "mae": float(np.abs(pred - yte).mean()),
        }
        d_b, m_b = [], []
        bte, cte = batch[te], ctrl[te]
        for b in sorted(set(bte)):
            ib = bte == b
            if not (ib & cte).any() or not (ib & ~cte).any():
                continue
            pc = pred[ib] - pred[ib & cte].mean(0)
            tc = yte[ib] - yte[ib & cte].mean(0)
            keep = ~cte[ib]
            n = keep.sum()
            d_b.append(np.linalg.norm(pc[keep] - tc[keep]) / n)
            m_b.append(np.linalg.norm(tc[keep]) / n)
        if d_b:
            ref["structural_integrity"] = float(1 - np.mean(d_b) / (2 * np.mean(m_b)))
        for _, r in g.iterrows():
            if r["variant"] not in ref:
                continue
            line("interpretability", "scikit-learn 1.9.1 Ridge + scipy 1.17.1 spearmanr/pearsonr", 1e-6,
                 float(r["value"]), ref[r["variant"]], dataset=dataset, postprocessing=pp, variant=r["variant"],
                 convention=f"ridge_lambda={lam}; {int(tr.sum())} train, {int(te.sum())} test samples; {len(scored)} genes scored")


def scib_silhouette_label(x, labels):
    """scib-metrics 0.5 `silhouette_label(X, labels, rescale=True)`, whose
    silhouette_samples equals scikit-learn's."""
    from sklearn.metrics import silhouette_samples
    return float((np.mean(silhouette_samples(x, labels)) + 1) / 2)


def scib_silhouette_batch(x, labels, batch):
    """scib-metrics 0.5 `silhouette_batch(X, labels, batch, rescale=True)`:
    per label, 1 - |s| by batch; labels of one batch, or of one sample per
    batch, skipped; the mean per label, then over labels."""
    from sklearn.metrics import silhouette_samples
    means = []
    for group in np.unique(labels):
        mask = labels == group
        n_batches = len(np.unique(batch[mask]))
        if n_batches == 1 or n_batches == int(mask.sum()):
            continue
        means.append(float(np.mean(1 - np.abs(silhouette_samples(x[mask], batch[mask])))))
    return float(np.mean(means))


def check_silhouette(w, _relationship_dir):
    """scib-metrics' silhouette_label (perturbations as labels, controls one
    label) and silhouette_batch, with scikit-learn's silhouette_samples, on
    every sample of the post-processed matrix."""
    rows = w.results[w.results["metric"] == "silhouette"]
    for (dataset, pp, pkey), g in rows.groupby(["dataset", "postprocessing", "postprocess_key"]):
        if "sampled" in g["convention"].iloc[0]:
            continue
        x, mrows = w.matrix("postprocess", pkey)
        pert, ctrl, batch = meta_of(w, dataset, mrows)
        labels = np.where(ctrl, "<control>", pert.astype(str))
        ref = {"silhouette_label": scib_silhouette_label(x, labels),
               "silhouette_batch": scib_silhouette_batch(x, labels, batch.astype(str))}
        for _, r in g.iterrows():
            line("silhouette", "scib-metrics 0.5 formulas + scikit-learn 1.9.1 silhouette_samples", 1e-6,
                 float(r["value"]), ref[r["variant"]], dataset=dataset, postprocessing=pp,
                 variant=r["variant"], convention=f"{len(labels)} samples, {len(np.unique(labels))} labels")


# Every check, each `check(work, relationship_dir)`; a new metric's
# comparison is one more function here.
CHECKS = [check_postprocessing, check_linear_probe, check_relationship_recall, check_consistency,
          check_knn, check_ilisi, check_distribution, check_interpretability, check_linear_ridge,
          check_silhouette]


def main():
    w = Work(sys.argv[1], sys.argv[2])
    for check in CHECKS:
        check(w, Path(sys.argv[3]))


if __name__ == "__main__":
    main()
