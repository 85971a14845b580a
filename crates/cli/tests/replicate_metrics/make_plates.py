"""Writes a Cell Painting-style CRISPR plate pair (one row per well:
Metadata_ columns, then CellProfiler-named features) with pandas and
pyarrow, for pertbench's replicate-metric suite
(crates/cli/tests/replicate_metrics): genes with one to four guides, each
guide with two to four replicate wells spread over two plates; some genes
shift every guide in one direction, some each guide its own, some nothing;
DMSO-like control wells (Metadata_gene 'control') on both plates. One
guide's well has the same value in every feature (no correlation with
anything: cytominer-eval drops its pairs). Feature values are float32
numbers (stored as float64), so cytominer-eval and pertbench see the same
values.

    python make_plates.py OUT_DIR

Writes plate.parquet and plate.csv (the same table).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = [f"{c}_{m}_{k}" for c in ("Cells", "Nuclei", "Cytoplasm")
            for m in ("AreaShape", "Intensity", "Texture") for k in range(4)]


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261208)
    d = len(FEATURES)
    plates = {p: rng.normal(0, 0.4, d) for p in ("P1", "P2")}
    rows, values = [], []

    def add(plate, guide, gene, control, x):
        rows.append(dict(Metadata_Plate=plate, Metadata_Well=f"W{len(rows):04d}",
                         Metadata_broad_sample=guide, Metadata_gene=gene,
                         Metadata_control=control))
        values.append(x)

    for p in ("P1", "P2"):
        for _ in range(20):
            add(p, "DMSO", "control", True, plates[p] + rng.normal(0, 1, d))
    for g in range(24):
        kind = g % 3  # 0: one direction per gene, 1: one per guide, 2: none
        gene_dir = rng.normal(0, 1, d)
        n_guides = [3, 2, 4, 1][g % 4]
        for k in range(n_guides):
            guide_dir = gene_dir if kind == 0 else rng.normal(0, 1, d)
            strength = [1.5, 1.0, 0.0][kind]
            for r in range([3, 2, 4][(g + k) % 3]):
                p = ("P1", "P2")[(g + k + r) % 2]
                add(p, f"G{g:02d}_g{k}", f"GENE{g:02d}", False,
                    plates[p] + strength * guide_dir + rng.normal(0, 1, d))
    meta = pd.DataFrame(rows)
    x = np.asarray(values).astype(np.float32).astype(np.float64)
    # A constant well (its guide keeps other wells).
    constant = meta.index[meta.Metadata_broad_sample == "G00_g0"][0]
    x[constant] = 0.5
    df = pd.concat([meta, pd.DataFrame(x, columns=FEATURES)], axis=1)
    df.to_parquet(out / "plate.parquet", index=False)
    df.to_csv(out / "plate.csv", index=False)


if __name__ == "__main__":
    main()
