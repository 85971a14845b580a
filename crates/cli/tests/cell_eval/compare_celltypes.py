"""The cell-eval parity suite's cell-type side: `cell-eval run
--celltype-col` (0.8.1's command line) against `pertbench cell-eval
--celltype-col` on the same files.

    python compare_celltypes.py make DIR
    python compare_celltypes.py compare DIR PERTBENCH_OUTDIR

`make` writes DIR/real.h5ad (integer counts, float32 CSR) and DIR/pred.h5ad
(log1p values, dense float32) holding two cell types, `HepG2/C3A` and
`K562`, in obs column `celltype`: make_pairs.py's screen twice (other
seeds), the second with twice the counts, so that each cell type's median
total (which cell-eval normalises counts to, per cell type) is not the
file's. `compare` runs cell-eval's command line into DIR/cell-eval and
compares, for each cell type, every value of its results file (per
perturbation) and of its aggregates with pertbench's file of the same name,
within 1e-5 (relative above 1: the integer path, where cell-eval's float32
log1p differs from pertbench's rounded float64 one in the last bit), and
prints one JSON line per (cell type, file, metric).
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).parent))
from make_pairs import CONTROL, lognorm_f32, screen  # noqa: E402

CELLTYPES = ["HepG2/C3A", "K562"]
TOLERANCE = 1e-5


def make(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts, obs, var = [], [], None
    for k, ct in enumerate(CELLTYPES):
        c, o, var = screen(seed=31 + k)
        counts.append(c * (k + 1))
        o = o.copy()
        o["celltype"] = ct
        o.index = [f"{ct}_{i}" for i in o.index]
        obs.append(o)
    counts = np.vstack(counts)
    obs = pd.concat(obs)
    obs["target_gene"] = pd.Categorical(obs["target_gene"].astype(str))
    obs["celltype"] = pd.Categorical(obs["celltype"])
    ad.AnnData(X=sp.csr_matrix(counts.astype(np.float32)), obs=obs, var=var).write_h5ad(
        out / "real.h5ad"
    )
    log32 = lognorm_f32(counts)
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 0.35, size=log32.shape)
    pred = np.clip(log32 + noise * (log32 > 0) + 0.05 * noise, 0.0, None)
    ad.AnnData(X=pred.astype(np.float32), obs=obs, var=var).write_h5ad(out / "pred.h5ad")


def score(a, b):
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    if all(missing):
        return 0.0
    if any(missing):
        return float("inf")
    return abs(a - b) / (TOLERANCE * max(1.0, abs(b)))


def compare(directory, pertbench_out):
    directory, pertbench_out = Path(directory), Path(pertbench_out)
    reference = directory / "cell-eval"
    subprocess.run(
        [
            sys.executable, "-m", "cell_eval", "run",
            "-ap", str(directory / "pred.h5ad"),
            "-ar", str(directory / "real.h5ad"),
            "--control-pert", CONTROL,
            "--pert-col", "target_gene",
            "--celltype-col", "celltype",
            "--profile", "full",
            "--skip-metrics", "clustering_agreement",
            "--num-threads", "1",
            "-o", str(reference),
        ],
        check=True,
        capture_output=True,
    )
    for ct in CELLTYPES:
        prefix = ct.replace("/", "-")
        for name, key in [("results.csv", "perturbation"), ("agg_results.csv", "statistic")]:
            file = f"{prefix}_{name}" if name == "results.csv" else f"{prefix}_agg_results.csv"
            ours = pd.read_csv(pertbench_out / file).set_index(key)
            theirs = pd.read_csv(reference / file).set_index(key)
            if key == "statistic":
                # cell-eval's describe(): pertbench writes the same rows.
                theirs = theirs.loc[[s for s in theirs.index if s in ours.index]]
            for metric in theirs.columns:
                if metric not in ours.columns:
                    print(json.dumps({"celltype": ct, "file": file, "metric": metric,
                                      "score": None, "detail": "missing in pertbench's file"}))
                    continue
                worst, detail = 0.0, ""
                for row in theirs.index:
                    a = ours.at[row, metric] if row in ours.index else None
                    b = theirs.at[row, metric]
                    a = None if a is None else float(a)
                    b = float(b)
                    s = score(a, b)
                    if s >= worst:
                        worst, detail = s, f"{row}: pertbench {a}, cell-eval {b}"
                print(json.dumps({"celltype": ct, "file": file, "metric": metric,
                                  "n": len(theirs.index), "score": worst if math.isfinite(worst) else None,
                                  "detail": detail}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        compare(sys.argv[2], sys.argv[3])
