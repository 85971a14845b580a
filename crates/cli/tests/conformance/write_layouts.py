"""Writes one screen in the layouts public data ships in, with the real
writer of the virtual environment it runs in (anndata at one release, h5py,
pandas), for pertbench's conformance test (crates/cli/tests/conformance).

    python write_layouts.py SCREEN_DIR OUT_DIR LAYOUT [LAYOUT ...]

SCREEN_DIR holds the screen the test generated: counts.npy (cells x genes,
float32, whole counts), emb.npy (cells x dims, float32), obs.tsv (cell,
perturbation, batch, is_control, perturbation_id, na_batch, na_control,
na_perturbation) and genes.tsv (symbol, ensembl). Each layout is written to
OUT_DIR/<layout>.h5ad (or .zarr); a layout this release cannot write is an
error, never skipped. Prints one line per file written.
"""

import sys
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

RELEASE = tuple(int(p) for p in ad.__version__.split(".")[:2])


def read_screen(d):
    counts = np.load(d / "counts.npy")
    emb = np.load(d / "emb.npy")
    obs = pd.read_csv(d / "obs.tsv", sep="\t", dtype=str, keep_default_na=False)
    genes = pd.read_csv(d / "genes.tsv", sep="\t", dtype=str, keep_default_na=False)
    return counts, emb, obs, genes


def lognorm(counts):
    """scanpy's normalize_total(target_sum=1e4) then log1p, as float32."""
    totals = counts.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1
    return np.log1p(counts / totals * 1e4).astype(np.float32)


def base(counts, emb, obs, genes, x=None):
    """The plain AnnData: CSR counts in X, categorical obs, symbols as var
    names, the embedding in obsm['X_emb']."""
    frame = pd.DataFrame(
        {
            "perturbation": pd.Categorical(obs["perturbation"]),
            "batch": pd.Categorical(obs["batch"]),
            "is_control": obs["is_control"].to_numpy() == "1",
        },
        index=pd.Index(obs["cell"].to_numpy(), name=None),
    )
    var = pd.DataFrame(index=pd.Index(genes["symbol"].to_numpy()))
    a = ad.AnnData(
        X=sp.csr_matrix(counts if x is None else x),
        obs=frame,
        var=var,
    )
    a.obsm["X_emb"] = emb
    return a


def write(a, path, **kw):
    a.write_h5ad(path, **kw)
    print(path)


def patch_obsm_rows(path, rows):
    """Rewrites obsm/X_emb with `rows` rows (anndata refuses to write such a
    file, so h5py edits the one it wrote)."""
    with h5py.File(path, "r+") as f:
        old = f["obsm/X_emb"][...]
        del f["obsm/X_emb"]
        if rows <= old.shape[0]:
            new = old[:rows]
        else:
            new = np.vstack([old, old[: rows - old.shape[0]]])
        f.create_dataset("obsm/X_emb", data=new)


def layout(name, counts, emb, obs, genes, out):
    path = out / f"{name}.h5ad"
    if name == "csr":
        write(base(counts, emb, obs, genes), path)
    elif name == "dense":
        a = base(counts, emb, obs, genes)
        a.X = counts
        write(a, path)
    elif name == "csc":
        a = base(counts, emb, obs, genes)
        a.X = sp.csc_matrix(counts)
        write(a, path)
    elif name == "gzip":
        write(base(counts, emb, obs, genes), path, compression="gzip")
    elif name == "lzf":
        write(base(counts, emb, obs, genes), path, compression="lzf")
    elif name == "layer_counts":
        # scanpy's convention: lognormalised X, the counts kept in a layer.
        a = base(counts, emb, obs, genes, x=lognorm(counts))
        a.layers["counts"] = sp.csr_matrix(counts)
        write(a, path)
    elif name == "raw_counts":
        # The other scanpy convention: counts frozen in .raw before normalising.
        a = base(counts, emb, obs, genes)
        a.raw = a
        a.X = sp.csr_matrix(lognorm(counts))
        write(a, path)
    elif name == "lognorm_only":
        write(base(counts, emb, obs, genes, x=lognorm(counts)), path)
    elif name == "negative":
        c = counts.copy()
        c[7, 3] = -2.0
        write(base(c, emb, obs, genes), path)
    elif name == "replogle":
        # Replogle 2022's layout: Ensembl ids as var names, symbols in
        # var['gene_name']; obs has both the symbol (`gene`) and the id.
        a = base(counts, emb, obs, genes)
        a.var = pd.DataFrame(
            {"gene_name": genes["symbol"].to_numpy()},
            index=pd.Index(genes["ensembl"].to_numpy()),
        )
        a.obs = a.obs.rename(columns={"perturbation": "gene"})
        a.obs["gene_id"] = pd.Categorical(obs["perturbation_id"].to_numpy())
        write(a, path)
    elif name == "nullable":
        # NA in the perturbation, batch and control flag: pandas' nullable
        # dtypes where this release writes them (nullable-integer,
        # nullable-boolean, nullable-string-array), else NaN and None.
        a = base(counts, emb, obs, genes)
        na_b = obs["na_batch"].to_numpy() == "1"
        na_c = obs["na_control"].to_numpy() == "1"
        na_p = obs["na_perturbation"].to_numpy() == "1"
        batch_num = obs["batch"].str.replace("b", "", regex=False).astype(int)
        ctrl = obs["is_control"].to_numpy() == "1"
        pert = obs["perturbation"].to_numpy().astype(object)
        if RELEASE >= (0, 10):
            b = pd.array(batch_num.to_numpy(), dtype="Int64")
            b[na_b] = pd.NA
            c = pd.array(ctrl, dtype="boolean")
            c[na_c] = pd.NA
            if RELEASE >= (0, 11):
                p = pd.array(pert, dtype="string")
                p[na_p] = pd.NA
                ad.settings.allow_write_nullable_strings = True
            else:
                # 0.10 writes no nullable strings: a categorical with NaN.
                pert[na_p] = np.nan
                p = pd.Categorical(pert)
        else:
            b = batch_num.to_numpy().astype(float)
            b[na_b] = np.nan
            c = ctrl.astype(float)
            c[na_c] = np.nan
            pert[na_p] = np.nan
            p = pd.Categorical(pert)
        a.obs = pd.DataFrame(
            {"perturbation": p, "batch": b, "is_control": c}, index=a.obs.index
        )
        if RELEASE >= (0, 11):
            # Keep the strings as strings (write_h5ad would make them a
            # categorical), so the file holds a nullable-string-array.
            a.strings_to_categoricals = lambda *args, **kwargs: None
        write(a, path)
    elif name == "csr_without_na":
        # The reference for `nullable`: the rows with no NA, batches named
        # by their numbers as `nullable` stores them.
        keep = (
            (obs["na_batch"] != "1")
            & (obs["na_control"] != "1")
            & (obs["na_perturbation"] != "1")
        ).to_numpy()
        sub = obs[keep].copy()
        sub["batch"] = sub["batch"].str.replace("b", "", regex=False)
        write(base(counts[keep], emb[keep], sub, genes), path)
    elif name == "dup_obs_names":
        a = base(counts, emb, obs, genes)
        names = a.obs_names.to_numpy().copy()
        names[5] = names[4]
        a.obs_names = names
        write(a, path)
        # The embedding as a table keyed by the (duplicated) obs names.
        table = pd.DataFrame(emb, columns=[f"emb_{i}" for i in range(emb.shape[1])])
        table.insert(0, "cell", names)
        table.to_csv(out / "dup_obs_names_emb.csv", index=False)
        print(out / "dup_obs_names_emb.csv")
    elif name == "obsm_short":
        write(base(counts, emb, obs, genes), path)
        patch_obsm_rows(path, counts.shape[0] - 3)
    elif name == "obsm_long":
        write(base(counts, emb, obs, genes), path)
        patch_obsm_rows(path, counts.shape[0] + 3)
    elif name == "obsm_dataframe":
        a = base(counts, emb, obs, genes)
        a.obsm["X_emb"] = pd.DataFrame(
            emb, index=a.obs_names, columns=[f"d{i}" for i in range(emb.shape[1])]
        )
        write(a, path)
    elif name == "zarr":
        a = base(counts, emb, obs, genes)
        zpath = out / "zarr.zarr"
        a.write_zarr(zpath)
        print(zpath)
    elif name == "compound_obs":
        # Before anndata 0.7, obs and var were compound (record) datasets.
        write(base(counts, emb, obs, genes), path)
        with h5py.File(path, "r+") as f:
            del f["obs"]
            rec = np.zeros(
                counts.shape[0],
                dtype=[("index", "S32"), ("perturbation", "S32"), ("batch", "S8")],
            )
            rec["index"] = obs["cell"].to_numpy().astype("S32")
            rec["perturbation"] = obs["perturbation"].to_numpy().astype("S32")
            rec["batch"] = obs["batch"].to_numpy().astype("S8")
            f.create_dataset("obs", data=rec)
    else:
        raise SystemExit(f"unknown layout {name!r}")


def main():
    screen, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    counts, emb, obs, genes = read_screen(screen)
    for name in sys.argv[3:]:
        layout(name, counts, emb, obs, genes, out)


if __name__ == "__main__":
    main()
