"""Writes real and predicted h5ad files the way cell-eval users have them
(anndata's own writer; `X` cells x genes, genes in `var`, the perturbation
in obs `target_gene`, controls labelled `non-targeting`), for the cell-eval
parity suite (crates/cli/tests/cell_eval).

    python make_pairs.py OUT_DIR

Files, one layout each:
- real_log_csr_f32.h5ad: log1p(counts per 10k) in float32 CSR (the usual);
- real_log_dense_f64.h5ad: the same values (exactly) as dense float64;
- real_counts_csr.h5ad: the integer counts in float32 CSR (cell-eval
  normalises them to the median total, then log1p);
- pred_log_dense_f32.h5ad: a model's prediction: the real values moved by
  noise, dense float32, its own controls included;
- pred_mixed_log_dense_f32.h5ad: a worse model's prediction: each
  perturbation's cells moved 60% of the way to the next perturbation's
  mean, with more noise (discrimination below 1, and absolute and signed
  deltas ranking differently);
- baseline.h5ad: cell-eval's own mean baseline (`cell-eval baseline`: every
  perturbation predicted as the mean of the perturbation means) built from
  the real data, with the real controls.

The screen has what trips DE code: a gene never expressed, a gene expressed
only in one perturbation (+inf fold change), a gene silenced in one
perturbation (-inf), perturbations of 5 to 40 cells (scipy's exact-test
range included), perturbations named after genes (the target gene that
discrimination leaves out) and one that is not a gene.
"""

import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

CONTROL = "non-targeting"


def screen(seed=11, n_genes=80, n_controls=120):
    rng = np.random.default_rng(seed)
    genes = [f"G{j}" for j in range(n_genes)]
    perts = [f"G{j}" for j in (3, 10, 17, 24, 31, 38, 45, 52, 59, 66, 73)] + [
        "NOTAGENE1",
        "NOTAGENE2",
        "G79",
    ]
    sizes = [5, 7, 8, 9, 12, 15, 20, 25, 30, 40, 6, 18, 11, 14]
    base = np.exp(rng.normal(0.0, 1.3, n_genes)) * 0.8
    base[0] = 0.0  # never expressed
    base[1] = 0.0  # expressed only in the first perturbation (below)
    labels, rows = [], []

    def cells(n, mean):
        # Negative binomial (dispersion 0.5) counts.
        p = 1.0 / (1.0 + mean * 0.5)
        return rng.negative_binomial(2.0, np.clip(p, 1e-9, 1.0), size=(n, n_genes))

    rows.append(cells(n_controls, base))
    labels += [CONTROL] * n_controls
    for k, (p, n) in enumerate(zip(perts, sizes)):
        effect = np.ones(n_genes)
        hit = rng.choice(np.arange(2, n_genes), size=8, replace=False)
        effect[hit] = rng.choice([0.15, 0.3, 3.0, 6.0], size=8)
        if p in genes:
            effect[genes.index(p)] = 0.1  # knock-down of the target
        mean = base * effect
        c = cells(n, mean)
        if k == 0:
            c[:, 1] = rng.integers(1, 5, size=n)  # only here: +inf
        if k == 1:
            c[:, 2] = 0  # silenced here: -inf when controls express it
        rows.append(c)
        labels += [p] * n
    counts = np.vstack(rows).astype(np.float64)
    # Cell totals of L, 2L or 4L (gene G78 fills each cell up), so that the
    # median total is 2L and every normalised count c / (total / median) is
    # exact in float32: cell-eval's log1p is numpy's float32 one, whose
    # last bit depends on the CPU (SIMD builds), and exact inputs keep
    # equal values equal (ties) whatever computes the log.
    rest = counts.sum(axis=1) - counts[:, 78]
    level = 64 * (int(rest.max()) // 64 + 1)
    totals = level * np.array([1.0, 2.0, 4.0])[np.arange(len(labels)) % 3]
    counts[:, 78] = totals - rest
    obs = pd.DataFrame(
        {"target_gene": pd.Categorical(labels)},
        index=[f"cell{i}" for i in range(len(labels))],
    )
    var = pd.DataFrame(index=genes)
    return counts, obs, var


def lognorm_f32(counts):
    totals = counts.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1.0
    scaled = (counts / totals * 1e4).astype(np.float32)
    return np.log1p(scaled).astype(np.float32)


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts, obs, var = screen()
    log32 = lognorm_f32(counts)
    ad.AnnData(X=sp.csr_matrix(log32), obs=obs, var=var).write_h5ad(
        out / "real_log_csr_f32.h5ad"
    )
    ad.AnnData(X=log32.astype(np.float64), obs=obs, var=var).write_h5ad(
        out / "real_log_dense_f64.h5ad"
    )
    ad.AnnData(X=sp.csr_matrix(counts.astype(np.float32)), obs=obs, var=var).write_h5ad(
        out / "real_counts_csr.h5ad"
    )
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, 0.35, size=log32.shape)
    pred = np.clip(log32 + noise * (log32 > 0) + 0.05 * noise, 0.0, None)
    pred[:, 0] = 0.0
    ad.AnnData(X=pred.astype(np.float32), obs=obs, var=var).write_h5ad(
        out / "pred_log_dense_f32.h5ad"
    )
    labels = obs["target_gene"].astype(str).to_numpy()
    groups = [p for p in dict.fromkeys(labels) if p != CONTROL]
    means = {p: log32[labels == p].mean(axis=0) for p in groups}
    mixed = log32.astype(np.float64).copy()
    for k, p in enumerate(groups):
        nxt = groups[(k + 1) % len(groups)]
        mixed[labels == p] += 0.6 * (means[nxt] - means[p])
    noise = rng.normal(0.0, 0.6, size=log32.shape)
    mixed = np.clip(mixed + noise * (mixed > 0), 0.0, None)
    mixed[:, 0] = 0.0
    ad.AnnData(X=mixed.astype(np.float32), obs=obs, var=var).write_h5ad(
        out / "pred_mixed_log_dense_f32.h5ad"
    )
    import logging
    import warnings

    from cell_eval._baseline import build_base_mean_adata

    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_base_mean_adata(
            adata=str(out / "real_log_csr_f32.h5ad"),
            pert_col="target_gene",
            control_pert=CONTROL,
            output_path=str(out / "baseline.h5ad"),
        )


if __name__ == "__main__":
    main(sys.argv[1])
