//! Seed corpora: the repository's own files (pipelines, manifests, the
//! canned SQL queries) and small files written by the field's writers
//! (anndata at three releases, cmapPy, NumPy, pandas/pyarrow, run from the
//! pinned virtual environments of `scripts/venvs.sh`) and by pertbench's
//! own (h5ad, gctx, npy, a real run's results).

use pertbench_data::samples::RawColumn;
use pertbench_kernels::Matrix;
use std::path::{Path, PathBuf};
use std::process::Command;

pub type Seed = (String, Vec<u8>);

/// The pinned virtual environments (`scripts/venvs.sh`), when built.
pub fn venvs() -> Option<PathBuf> {
    let d = std::env::var_os("PERTBENCH_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target/venvs"));
    d.join("anndata-0.12.19/bin/python").exists().then_some(d)
}

/// The seeds of target `name`, written under `work` where files are made.
pub fn seeds(name: &str, work: &Path) -> Result<Vec<Seed>, String> {
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let root = crate::repo_root();
    let mut out = Vec::new();
    match name {
        "pipeline" => {
            files(&mut out, &root.join("pipelines"), "yaml")?;
            files(&mut out, &root.join("benches"), "yaml")?;
        }
        "manifest" => {
            files(&mut out, &root.join("data_manifests"), "yaml")?;
            files(&mut out, &root.join("benches/manifests"), "yaml")?;
        }
        "sql" => {
            files(&mut out, &root.join("sql"), "sql")?;
            for q in [
                "SELECT * FROM results",
                "SELECT * FROM best_postprocessing",
                "SELECT representation, AVG(value) FROM results GROUP BY 1 ORDER BY 2 DESC",
                "WITH t AS (SELECT * FROM results) SELECT COUNT(*) FROM t a JOIN t b ON a.metric = b.metric",
                "COPY results TO 'x.csv'",
                "CREATE TABLE t AS SELECT 1",
            ] {
                out.push((format!("{}.sql", out.len()), q.as_bytes().to_vec()));
            }
        }
        "h5ad_layout" => {
            for k in 0..16u8 {
                let bytes: Vec<u8> = (0..96u32)
                    .map(|i| (i as u8).wrapping_mul(k | 1).wrapping_add(k))
                    .collect();
                out.push((format!("layout_{k}"), bytes));
            }
        }
        "h5ad" | "gctx" | "table" | "npy" => {
            let screen = work.join("screen");
            write_screen(&screen)?;
            let files = work.join("files");
            std::fs::create_dir_all(&files).map_err(|e| e.to_string())?;
            own_files(&screen, &files)?;
            if let Some(v) = venvs() {
                python_files(&v, &screen, &files)?;
            }
            let mut all = Vec::new();
            self::files(&mut all, &files, "")?;
            for (file, bytes) in all {
                if let Some(seed) = seed_of(name, &file, bytes) {
                    out.push(seed);
                }
            }
        }
        "results" => {
            let run = work.join("run");
            small_run(&run)?;
            files(&mut out, &run.join("results"), "parquet")?;
        }
        other => return Err(format!("no fuzz target `{other}`")),
    }
    if out.is_empty() {
        return Err(format!("target `{name}`: no seeds"));
    }
    Ok(out)
}

/// The table target's kinds are picked by its first byte (see
/// `targets::table`): a seed carries that byte.
fn seed_of(target: &str, file: &str, bytes: Vec<u8>) -> Option<Seed> {
    let ext = |e: &str| file.ends_with(e);
    let tagged = |kind: &str| {
        let k = crate::targets::table::KINDS
            .iter()
            .position(|x| *x == kind)? as u8;
        let mut b = vec![k];
        b.extend_from_slice(&bytes);
        Some((file.to_string(), b))
    };
    match target {
        "h5ad" if ext(".h5ad") => Some((file.to_string(), bytes)),
        "gctx" if ext(".gctx") => Some((file.to_string(), bytes)),
        "npy" if ext(".npy") => Some((file.to_string(), bytes)),
        "table" if ext(".gct.gz") => tagged("gct.gz"),
        "table" if ext(".gct") => tagged("gct"),
        "table" if ext(".pairs.tsv") => tagged("pairs.tsv"),
        "table" if ext(".clusters.tsv") => tagged("clusters.tsv"),
        "table" if ext(".csv.gz") => tagged("csv.gz"),
        "table" if ext(".csv") => tagged("csv"),
        "table" if ext(".tsv") => tagged("tsv"),
        "table" if ext(".parquet") => tagged("parquet"),
        _ => None,
    }
}

/// The files in `dir` ending in `ext`, sorted, as seeds named by file.
fn files(out: &mut Vec<Seed>, dir: &Path, ext: &str) -> Result<(), String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(ext))
        .collect();
    paths.sort();
    for p in paths {
        let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        out.push((
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            bytes,
        ));
    }
    Ok(())
}

const GENES: &[&str] = &["STAT1", "IRF1", "JAK2", "IFNGR1", "CD274", "SMAD4"];
const N_CELLS: usize = 12;

/// A tiny screen in the neutral files the conformance writers read
/// (`crates/cli/tests/conformance/write_layouts.py`): 12 cells, 6 genes.
fn write_screen(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let counts = Matrix::from_shape_fn((N_CELLS, GENES.len()), |(i, j)| {
        ((i * 7 + j * 3) % 5) as f32
    });
    let emb = Matrix::from_shape_fn((N_CELLS, 3), |(i, j)| (i as f32 - 6.0) * 0.1 + j as f32);
    pertbench_data::npy::write(&dir.join("counts.npy"), &counts).map_err(|e| e.to_string())?;
    pertbench_data::npy::write(&dir.join("emb.npy"), &emb).map_err(|e| e.to_string())?;
    let mut obs = String::from(
        "cell\tperturbation\tbatch\tis_control\tperturbation_id\tna_batch\tna_control\tna_perturbation\n",
    );
    for i in 0..N_CELLS {
        let control = i % 3 == 0;
        let pert = if control {
            "non-targeting"
        } else {
            GENES[i % GENES.len()]
        };
        obs += &format!(
            "cell{i:02}\t{pert}\tb{}\t{}\t{pert}\t{}\t{}\t{}\n",
            i % 2,
            control as u8,
            (i == 5) as u8,
            (i == 7) as u8,
            (i == 10) as u8
        );
    }
    std::fs::write(dir.join("obs.tsv"), obs).map_err(|e| e.to_string())?;
    let mut genes = String::from("symbol\tensembl\n");
    for (k, g) in GENES.iter().enumerate() {
        genes += &format!("{g}\tENSG{:011}\n", 100 + k);
    }
    std::fs::write(dir.join("genes.tsv"), genes).map_err(|e| e.to_string())
}

/// Files pertbench's own writers make: h5ad, gctx, npy, tables, pairs.
fn own_files(screen: &Path, out: &Path) -> Result<(), String> {
    let e = |e: pertbench_data::DataError| e.to_string();
    let counts = pertbench_data::npy::read(&screen.join("counts.npy")).map_err(e)?;
    std::fs::copy(screen.join("counts.npy"), out.join("own_counts.npy"))
        .map_err(|e| e.to_string())?;
    std::fs::copy(screen.join("emb.npy"), out.join("own_emb.npy")).map_err(|e| e.to_string())?;
    let ids: Vec<String> = (0..N_CELLS).map(|i| format!("cell{i:02}")).collect();
    let genes: Vec<String> = GENES.iter().map(|g| g.to_string()).collect();
    let obs = std::fs::read_to_string(screen.join("obs.tsv")).map_err(|e| e.to_string())?;
    let rows: Vec<Vec<&str>> = obs
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    let field = |k: usize| -> Vec<String> { rows.iter().map(|r| r[k].to_string()).collect() };
    let col = |v: Vec<String>| RawColumn::Str(v.into_iter().map(Some).collect());
    let (name, plate) = (col(field(1)), col(field(2)));
    let pert_type = col(field(3)
        .iter()
        .map(|c| if c == "1" { "ctl_vector" } else { "trt_xpr" }.to_string())
        .collect());
    pertbench_data::gctx::write(
        &out.join("own.gctx"),
        &ids,
        &genes,
        &[
            ("cmap_name", &name),
            ("det_plate", &plate),
            ("pert_type", &pert_type),
        ],
        5,
        &mut |first, block| {
            for i in 0..block.nrows() {
                for j in 0..block.ncols() {
                    block[(i, j)] = counts[(first + i, j)];
                }
            }
        },
    )
    .map_err(e)?;
    // A Cell Painting-style profile table, as text and gzipped.
    let mut csv =
        String::from("Metadata_Plate,Metadata_gene,Cells_AreaShape_Area,Nuclei_Intensity_Mean\n");
    for (i, r) in rows.iter().enumerate() {
        csv += &format!(
            "{},{},{},{}\n",
            r[2],
            r[1],
            counts[(i, 0)] * 10.0 + 1.0,
            (i as f32) * 0.25 - 1.0
        );
    }
    std::fs::write(out.join("own_profiles.csv"), &csv).map_err(|e| e.to_string())?;
    std::fs::write(out.join("own_profiles.tsv"), csv.replace(',', "\t"))
        .map_err(|e| e.to_string())?;
    std::fs::write(
        out.join("own.pairs.tsv"),
        "entity1\tentity2\nSTAT1\tIRF1\nJAK2\tIFNGR1\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        out.join("own.clusters.tsv"),
        "c1\tSTAT1 IRF1 JAK2\nc2\tCD274 SMAD4\n",
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Files the field's writers make, from the pinned environments: AnnData
/// layouts (three releases), CMap's gctx and GCT (cmapPy), NumPy arrays of
/// several dtypes and orders, a pandas/pyarrow Parquet table.
fn python_files(venvs: &Path, screen: &Path, out: &Path) -> Result<(), String> {
    let conformance = crate::repo_root().join("crates/cli/tests/conformance");
    let run = |venv: &str, script: &Path, args: &[&str], dest: &Path| -> Result<(), String> {
        std::fs::create_dir_all(dest).map_err(|e| e.to_string())?;
        let o = Command::new(venvs.join(venv).join("bin/python"))
            .arg(script)
            .arg(screen)
            .arg(dest)
            .args(args)
            .output()
            .map_err(|e| format!("{venv}: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "{venv} {}: {}",
                script.display(),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok(())
    };
    let layouts = conformance.join("write_layouts.py");
    for (venv, tag, layouts_of) in [
        (
            "anndata-0.7.8",
            "ad07",
            &["csr", "dense", "layer_counts"][..],
        ),
        (
            "anndata-0.10.9",
            "ad010",
            &["csr", "nullable", "obsm_dataframe"][..],
        ),
        (
            "anndata-0.12.19",
            "ad012",
            &[
                "dense",
                "csc",
                "gzip",
                "lzf",
                "raw_counts",
                "nullable",
                "dup_obs_names",
                "compound_obs",
            ][..],
        ),
    ] {
        let dest = out.join(tag);
        run(venv, &layouts, layouts_of, &dest)?;
        for l in layouts_of.iter() {
            let from = dest.join(format!("{l}.h5ad"));
            if from.exists() {
                std::fs::rename(&from, out.join(format!("{tag}_{l}.h5ad")))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    let dest = out.join("cmap");
    run(
        "cmappy-4.0.1",
        &conformance.join("write_cmap.py"),
        &[],
        &dest,
    )?;
    for f in [
        "cmap.gctx",
        "cmap.gct",
        "cmap.gct.gz",
        "cmap_v12.gct",
        "geneinfo.tsv",
    ] {
        std::fs::rename(dest.join(f), out.join(format!("cmappy_{f}")))
            .map_err(|e| e.to_string())?;
    }
    // NumPy's .npy header variants and a pyarrow-written Parquet table.
    let script = "import sys, numpy as np, pandas as pd\n\
        d = sys.argv[2]\n\
        a = np.arange(12, dtype=np.float64).reshape(4, 3)\n\
        np.save(d + '/np_f64.npy', a)\n\
        np.save(d + '/np_f32_fortran.npy', np.asfortranarray(a.astype(np.float32)))\n\
        np.save(d + '/np_i64.npy', a.astype(np.int64))\n\
        np.save(d + '/np_f16.npy', a.astype(np.float16))\n\
        np.save(d + '/np_be.npy', a.astype('>f4'))\n\
        np.save(d + '/np_1d.npy', a.ravel())\n\
        df = pd.DataFrame({'Metadata_Plate': ['p1', 'p1', 'p2', 'p2'], 'Metadata_gene': ['non-targeting', 'STAT1', 'non-targeting', 'IRF1'], 'f1': a[:, 0], 'f2': [0.5, None, 1.5, 2.0]})\n\
        df.to_parquet(d + '/pd_profiles.parquet')\n\
        df.to_csv(d + '/pd_profiles.csv.gz', index=False)\n";
    let py = out.join("numpy_seeds.py");
    std::fs::write(&py, script).map_err(|e| e.to_string())?;
    run("anndata-0.12.19", &py, &[], out)?;
    Ok(())
}

/// A small real run (a synthetic screen of 2 batches, PCA and random,
/// kNN and consistency) in workdir `work`: its results feed the results
/// and sql targets.
pub fn small_run(work: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(work);
    let manifests = work.join("manifests");
    let mirror = work.join("mirror");
    std::fs::create_dir_all(&manifests).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&mirror).map_err(|e| e.to_string())?;
    let mut clusters = String::new();
    for k in 0..24 {
        clusters += &format!("complex{k}\tG{k}A G{k}B G{k}C G{k}D\n");
    }
    let cpath = mirror.join("clusters.tsv");
    std::fs::write(&cpath, clusters).map_err(|e| e.to_string())?;
    let sha = pertbench_data::fetch::sha256_file(&cpath).map_err(|e| e.to_string())?;
    let write = |p: PathBuf, t: String| std::fs::write(p, t).map_err(|e| e.to_string());
    write(
        manifests.join("small_clusters.yaml"),
        format!("name: small_clusters\nformat: clusters\nsource: {{file: clusters.tsv}}\nsha256: {sha}\n"),
    )?;
    write(
        manifests.join("small_screen.yaml"),
        "name: small_screen\nformat: h5ad\nsource:\n  synthetic: {seed: 1, n_batches: 2, n_genes: 60, cells_per_perturbation: 6, controls_per_batch: 16, n_complexes: 4, n_unexpressed: 2, clusters: small_clusters}\nsha256: unpinned\n".into(),
    )?;
    let pipeline = work.join("small.yaml");
    write(
        pipeline.clone(),
        "name: small\ndatasets: [small_screen]\nseeds: [0]\nrepresentations:\n  - {name: pca, kind: pca, n_components: 4}\n  - {name: random, kind: random, dim: 4}\npostprocessing: [raw, center]\nmetrics:\n  - {kind: knn}\n  - {kind: consistency}\n".into(),
    )?;
    let ctx = pertbench_data::dataset::DataContext {
        manifest_dirs: vec![manifests],
        fetch: pertbench_data::fetch::FetchOptions {
            mirrors: vec![mirror],
            data_dir: work.join("data"),
            allow_network: false,
            allow_unpinned: false,
        },
    };
    let ws = pertbench_engine::exec::run::Workspace {
        workdir: work.to_path_buf(),
    };
    let report = pertbench_engine::exec::run::run_pipeline(
        &pipeline,
        &ctx,
        &ws,
        &pertbench_engine::exec::observer::Silent,
    )
    .map_err(|e| e.to_string())?;
    if !report.failures.is_empty() {
        return Err(format!("the small run failed: {:?}", report.failures));
    }
    Ok(())
}
