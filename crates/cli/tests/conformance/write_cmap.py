"""Writes one screen the way CMap ships L1000 plates, with cmapPy (the
writer of the virtual environment it runs in), for pertbench's conformance
test (crates/cli/tests/conformance).

    python write_cmap.py SCREEN_DIR OUT_DIR

SCREEN_DIR is as for write_layouts.py. The values are log-normalised counts
rounded to 4 decimals (what GCT text keeps), as float32. Writes to OUT_DIR:
cmap.gctx (write_gctx), cmap.gct (write_gct, GCT 1.3), cmap.gct.gz (that
file gzipped), cmap_v12.gct (GCT 1.2: Name, Description, values; cmapPy
writes only 1.3, so this one is written here by the format's definition)
geneinfo.tsv (gene_id, gene_symbol, as CMap's geneinfo_beta.txt) and
colinfo.tsv (sample_id and the sample fields, as CMap's instinfo_beta.txt).
"""

import gzip
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from cmapPy.pandasGEXpress.GCToo import GCToo
from cmapPy.pandasGEXpress import write_gct, write_gctx


def main():
    screen, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    counts = np.load(screen / "counts.npy").astype(np.float64)
    obs = pd.read_csv(screen / "obs.tsv", sep="\t", dtype=str, keep_default_na=False)
    genes = pd.read_csv(screen / "genes.tsv", sep="\t", dtype=str, keep_default_na=False)
    totals = counts.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1
    values = np.round(np.log1p(counts / totals * 1e4), 4).astype(np.float32)

    gene_ids = [str(1000 + k) for k in range(len(genes))]
    sample_ids = list(obs["cell"])
    data = pd.DataFrame(values.T, index=pd.Index(gene_ids, name="rid"),
                        columns=pd.Index(sample_ids, name="cid"))
    row_meta = pd.DataFrame(
        {"pr_gene_symbol": list(genes["symbol"]), "pr_is_lm": ["1"] * len(genes)},
        index=pd.Index(gene_ids, name="rid"),
    )
    row_meta.columns.name = "rhd"
    col_meta = pd.DataFrame(
        {
            "cmap_name": list(obs["perturbation"]),
            "pert_type": ["ctl_vector" if c == "1" else "trt_xpr" for c in obs["is_control"]],
            "det_plate": list(obs["batch"]),
        },
        index=pd.Index(sample_ids, name="cid"),
    )
    col_meta.columns.name = "chd"
    g = GCToo(data_df=data, row_metadata_df=row_meta, col_metadata_df=col_meta)

    write_gctx.write(g, str(out / "cmap.gctx"))
    write_gct.write(g, str(out / "cmap.gct"))
    with open(out / "cmap.gct", "rb") as src, gzip.open(out / "cmap.gct.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    with open(out / "cmap_v12.gct", "w") as f:
        f.write("#1.2\n")
        f.write(f"{len(gene_ids)}\t{len(sample_ids)}\n")
        f.write("Name\tDescription\t" + "\t".join(sample_ids) + "\n")
        for k, gid in enumerate(gene_ids):
            row = "\t".join("%.4f" % v for v in values[:, k])
            f.write(f"{gid}\t{genes['symbol'][k]}\t{row}\n")
    pd.DataFrame({"gene_id": gene_ids, "gene_symbol": list(genes["symbol"])}).to_csv(
        out / "geneinfo.tsv", sep="\t", index=False
    )
    # GCT 1.2 has no sample metadata: CMap ships it beside, as instinfo.
    col_meta.rename_axis("sample_id").reset_index().to_csv(
        out / "colinfo.tsv", sep="\t", index=False
    )
    for name in ["cmap.gctx", "cmap.gct", "cmap.gct.gz", "cmap_v12.gct", "geneinfo.tsv", "colinfo.tsv"]:
        print(out / name)


if __name__ == "__main__":
    main()
