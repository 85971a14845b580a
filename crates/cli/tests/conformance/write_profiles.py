"""Writes one screen as Cell Painting-style profile tables (one row per
well: Metadata_ columns, then CellProfiler-named features) with pandas and
pyarrow, for pertbench's conformance test (crates/cli/tests/conformance).

    python write_profiles.py SCREEN_DIR OUT_DIR

Features are log-normalised counts of the screen's genes, named
Cells_/Nuclei_/Cytoplasm_<measurement>_<k>. Writes profiles.csv,
profiles.csv.gz, profiles.tsv and profiles.parquet (the same table);
profiles_nan.csv (a few features missing in a few wells); and, as the
references for its missing-value policies, profiles_nan_drop_features.csv
(those features left out) and profiles_nan_drop_samples.csv (those wells
left out); gene_map.csv and gene_map.parquet (one row per perturbation:
the mean profile of its wells) and gene_map_dup.csv (a gene on two rows).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def main():
    screen, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    counts = np.load(screen / "counts.npy").astype(np.float64)
    obs = pd.read_csv(screen / "obs.tsv", sep="\t", dtype=str, keep_default_na=False)
    totals = counts.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1
    # Rounded to 6 decimals so every writer stores the same numbers.
    values = np.round(np.log1p(counts / totals * 1e4), 6)
    compartments = ["Cells_AreaShape", "Nuclei_Intensity", "Cytoplasm_Texture"]
    names = [f"{compartments[k % 3]}_{k}" for k in range(values.shape[1])]
    meta = pd.DataFrame(
        {
            "Metadata_Cell": obs["cell"].to_numpy(),
            "Metadata_Plate": obs["batch"].to_numpy(),
            "Metadata_Experiment": ["exp1"] * len(obs),
            "Metadata_Well": [f"{'ABCDEFGHIJKLMNOP'[i % 16]}{i % 24 + 1:02d}" for i in range(len(obs))],
            "Metadata_Site": np.arange(len(obs)) % 9 + 1,
            "Metadata_gene": obs["perturbation"].to_numpy(),
            "Metadata_control": obs["is_control"].astype(int).to_numpy(),
        }
    )
    table = pd.concat([meta, pd.DataFrame(values, columns=names)], axis=1)
    table.to_csv(out / "profiles.csv", index=False)
    table.to_csv(out / "profiles.csv.gz", index=False, compression="gzip")
    table.to_csv(out / "profiles.tsv", index=False, sep="\t")
    table.to_parquet(out / "profiles.parquet", index=False)

    # A few wells lose a few features (as CellProfiler leaves NaN where an
    # object was not found); controls are spared so every plate keeps some.
    nan = table.copy()
    lost_features = [names[3], names[10]]
    treated = np.flatnonzero(obs["is_control"].to_numpy() == "0")
    lost_rows = treated[[2, 17, 40]]
    for j, f in enumerate(lost_features):
        nan.loc[lost_rows[j:j + 2], f] = np.nan
    nan.to_csv(out / "profiles_nan.csv", index=False)
    nan.drop(columns=lost_features).to_csv(out / "profiles_nan_drop_features.csv", index=False)
    nan.drop(index=nan.index[nan[names].isna().any(axis=1)]).to_csv(
        out / "profiles_nan_drop_samples.csv", index=False
    )
    # A gene-level map (one row per perturbation: the mean profile of its
    # wells, as DepMap-style tables are aggregated), and one with a gene on
    # two rows.
    treated_rows = table[obs["is_control"].to_numpy() == "0"]
    gene_map = treated_rows.groupby("Metadata_gene")[names].mean().round(6)
    gene_map.index.name = "gene"
    gene_map.reset_index().to_csv(out / "gene_map.csv", index=False)
    gene_map.reset_index().to_parquet(out / "gene_map.parquet", index=False)
    dup = gene_map.reset_index()
    pd.concat([dup, dup.iloc[[3]]]).to_csv(out / "gene_map_dup.csv", index=False)
    for name in sorted(p.name for p in out.glob("*") if p.name.startswith(("profiles", "gene_map"))):
        print(out / name)


if __name__ == "__main__":
    main()
