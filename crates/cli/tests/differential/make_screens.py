"""Writes the differential suite's generated screens as Cell Painting-style
profile tables (one row per sample: Metadata_ columns, then features), with
pandas, for pertbench's differential test (crates/cli/tests/differential).

    python make_screens.py OUT_DIR

Each shape stresses one convention: `few_controls` has fewer controls than
dimensions (TVN is rank-deficient), `many_controls` more (TVN full rank),
`singletons` one sample per perturbation and batch, `probe_<n>` a screen of
n samples for the softmax probe (200 to 50,000). Perturbations are named
after genes of CORUM complexes (the relationship-recall reference), with
an effect shared within a complex.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

# name: (samples per perturbation and batch, perturbations, batches,
#        controls per batch, features, latent dims, effect size, seed)
SHAPES = {
    "few_controls": (3, 40, 3, 8, 96, 12, 0.8, 1),
    "many_controls": (3, 40, 3, 80, 24, 8, 0.8, 2),
    "singletons": (1, 60, 2, 30, 16, 6, 1.0, 3),
    "probe_200": (2, 30, 4, 5, 40, 10, 0.6, 4),
    "probe_2000": (5, 80, 5, 20, 64, 16, 0.5, 5),
    "probe_50000": (25, 400, 5, 200, 32, 12, 0.5, 6),
}


def complexes(n_perturbations, rng):
    """Gene names in groups of 2-4 (complex k: genes CPLX<k>_<j>), the
    grouping the effect follows."""
    names, group = [], []
    k = 0
    while len(names) < n_perturbations:
        size = 2 + k % 3
        for j in range(size):
            names.append(f"CPLX{k}_{j}")
            group.append(k)
        k += 1
    return names[:n_perturbations], np.array(group[:n_perturbations])


def screen(shape):
    per, n_pert, n_batch, n_ctrl, d, latent, effect, seed = SHAPES[shape]
    rng = np.random.default_rng(seed)
    genes, group = complexes(n_pert, rng)
    load = rng.normal(size=(latent, d)) / np.sqrt(latent)
    complex_effect = rng.normal(scale=effect, size=(group.max() + 1, latent))
    own = rng.normal(scale=effect / 2, size=(n_pert, latent))
    mu = complex_effect[group] + own
    mu[rng.random(n_pert) < 0.2] = 0.0  # some perturbations do nothing
    batch_shift = rng.normal(scale=0.7, size=(n_batch, latent))
    batch_scale = rng.uniform(0.8, 1.3, size=(n_batch, d))
    rows = []
    for b in range(n_batch):
        for i in range(n_ctrl):
            rows.append(("non-targeting", 1, b, np.zeros(latent)))
        for p in range(n_pert):
            for r in range(per):
                rows.append((genes[p], 0, b, mu[p]))
    z = np.array([m for *_, m in rows]) + np.array([batch_shift[b] for _, _, b, _ in rows])
    z += rng.normal(size=z.shape)
    x = (z @ load + 0.3 * rng.normal(size=(len(rows), d))) * np.array(
        [batch_scale[b] for _, _, b, _ in rows]
    )
    meta = pd.DataFrame(
        {
            "Metadata_Sample": [f"s{i}" for i in range(len(rows))],
            "Metadata_Plate": [f"plate{b}" for _, _, b, _ in rows],
            "Metadata_gene": [g for g, *_ in rows],
            "Metadata_control": [c for _, c, _, _ in rows],
        }
    )
    feats = pd.DataFrame(np.round(x, 6), columns=[f"Cells_Feature_{k}" for k in range(d)])
    return pd.concat([meta, feats], axis=1), genes, group


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    pairs = set()
    for shape in SHAPES:
        table, genes, group = screen(shape)
        table.to_csv(out / f"{shape}.csv", index=False)
        for a in range(len(genes)):
            for b in range(a + 1, len(genes)):
                if group[a] == group[b]:
                    pairs.add((genes[a], genes[b]))
    with open(out / "complex_pairs.txt", "w") as f:
        f.write("entity1,entity2\n")
        for a, b in sorted(pairs):
            f.write(f"{a},{b}\n")


if __name__ == "__main__":
    main()
