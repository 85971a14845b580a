//! Conformance: one screen, written by the field's own writers (anndata
//! 0.7.8, 0.10.9 and 0.12.19, cmapPy 4.0.1, h5py, pandas) in every layout public data
//! ships in, run through the real binary. Each layout either gives results
//! equal (within 1e-9) to the plain CSR file's, or fails with a clear error
//! (and no panic). The expected outcome of every layout is in [`LAYOUTS`].
//!
//! The writers run in pinned virtual environments that `scripts/venvs.sh`
//! builds under `target/venvs` (the test command builds them first); without
//! them the test skips, unless `PERTBENCH_REQUIRE_VENVS=1`.

use super::Project;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a layout must give.
enum Expect {
    /// Results equal to those of this reference dataset.
    Equal(&'static str),
    /// `pertbench run` fails; stderr holds every string.
    Fails(&'static [&'static str]),
}

struct Layout {
    /// The virtual environment (anndata release) that writes it.
    writer: &'static str,
    /// The layout's name in `write_layouts.py`.
    layout: &'static str,
    /// Manifest lines beyond the plain ones (a `columns:` line replaces the
    /// plain mapping).
    manifest: &'static str,
    expect: Expect,
}

const AD07: &str = "anndata-0.7.8";
const AD010: &str = "anndata-0.10.9";
const AD012: &str = "anndata-0.12.19";
const CMAPPY: &str = "cmappy-4.0.1";

/// The reference: the plain CSR file of the newest release.
const REF: &str = "ref";
/// The reference for layouts with NA labels: the plain file without the NA rows.
const REF_NA: &str = "ref_na";

const LAYOUTS: &[Layout] = &[
    // Plain CSR X with categorical obs: 0.7 stores categories in
    // `obs/__categories` (read as integer codes before), 0.8+ as groups.
    Layout { writer: AD07, layout: "csr", manifest: "", expect: Expect::Equal(REF) },
    Layout { writer: AD010, layout: "csr", manifest: "", expect: Expect::Equal(REF) },
    Layout { writer: AD07, layout: "dense", manifest: "", expect: Expect::Equal(REF) },
    Layout { writer: AD010, layout: "dense", manifest: "", expect: Expect::Equal(REF) },
    Layout { writer: AD012, layout: "dense", manifest: "", expect: Expect::Equal(REF) },
    Layout { writer: AD012, layout: "gzip", manifest: "", expect: Expect::Equal(REF) },
    Layout { writer: AD07, layout: "gzip", manifest: "", expect: Expect::Equal(REF) },
    // h5py's other compression filter.
    Layout { writer: AD012, layout: "lzf", manifest: "", expect: Expect::Equal(REF) },
    Layout {
        writer: AD012,
        layout: "csc",
        manifest: "",
        expect: Expect::Fails(&["X is stored as csc_matrix", "scipy.sparse.csr_matrix"]),
    },
    // scanpy's conventions: log-normalised X, counts in a layer or in raw.
    Layout { writer: AD07, layout: "layer_counts", manifest: "counts: layers/counts\n", expect: Expect::Equal(REF) },
    Layout { writer: AD012, layout: "layer_counts", manifest: "counts: layers/counts\n", expect: Expect::Equal(REF) },
    Layout {
        writer: AD012,
        layout: "layer_counts",
        manifest: "",
        expect: Expect::Fails(&["is not a whole number", "declares raw counts", "set `counts: layers/counts`"]),
    },
    Layout { writer: AD07, layout: "raw_counts", manifest: "counts: raw\n", expect: Expect::Equal(REF) },
    Layout { writer: AD012, layout: "raw_counts", manifest: "counts: raw\n", expect: Expect::Equal(REF) },
    Layout {
        writer: AD012,
        layout: "raw_counts",
        manifest: "",
        expect: Expect::Fails(&["is not a whole number", "set `counts: raw`"]),
    },
    Layout {
        writer: AD012,
        layout: "lognorm_only",
        manifest: "",
        expect: Expect::Fails(&["is not a whole number", "values: log_expression"]),
    },
    Layout {
        writer: AD012,
        layout: "negative",
        manifest: "",
        expect: Expect::Fails(&["the value -2 at row 7", "is negative"]),
    },
    // Replogle 2022: Ensembl ids as var names, symbols in var['gene_name'].
    Layout {
        writer: AD07,
        layout: "replogle",
        manifest: "gene_column: gene_name\ncolumns: {perturbation: gene, batch: batch, control: {column: is_control}}\n",
        expect: Expect::Equal(REF),
    },
    Layout {
        writer: AD012,
        layout: "replogle",
        manifest: "gene_column: gene_name\ncolumns: {perturbation: gene, batch: batch, control: {column: is_control}}\n",
        expect: Expect::Equal(REF),
    },
    Layout {
        writer: AD012,
        layout: "replogle",
        manifest: "gene_column: symbol\ncolumns: {perturbation: gene, batch: batch, control: {column: is_control}}\n",
        expect: Expect::Fails(&["`gene_column: symbol`: var has no column `symbol`", "gene_name"]),
    },
    // NA labels: nullable-integer, nullable-boolean, nullable-string-array
    // (0.10+), NaN and categorical -1 (0.7): the rows are dropped, never
    // coerced into batch "1" or `False`.
    Layout { writer: AD07, layout: "nullable", manifest: "", expect: Expect::Equal(REF_NA) },
    Layout { writer: AD010, layout: "nullable", manifest: "", expect: Expect::Equal(REF_NA) },
    Layout { writer: AD012, layout: "nullable", manifest: "", expect: Expect::Equal(REF_NA) },
    Layout { writer: AD07, layout: "obsm_dataframe", manifest: "", expect: Expect::Equal(REF) },
    Layout { writer: AD012, layout: "obsm_dataframe", manifest: "", expect: Expect::Equal(REF) },
    Layout {
        writer: AD012,
        layout: "obsm_short",
        manifest: "",
        expect: Expect::Fails(&["obsm/X_emb has", "rows but the file has", "cells"]),
    },
    Layout {
        writer: AD012,
        layout: "obsm_long",
        manifest: "",
        expect: Expect::Fails(&["obsm/X_emb has", "rows but the file has"]),
    },
    Layout {
        writer: AD012,
        layout: "dup_obs_names",
        manifest: "",
        expect: Expect::Fails(&["twice", "obs_names_make_unique"]),
    },
    Layout {
        writer: AD012,
        layout: "zarr",
        manifest: "",
        expect: Expect::Fails(&["Zarr store", "anndata.read_zarr"]),
    },
    Layout {
        writer: AD012,
        layout: "compound_obs",
        manifest: "",
        expect: Expect::Fails(&["anndata before 0.7", "write_h5ad"]),
    },
];

/// Layouts `pertbench init` must read right as written, with lines its
/// manifest must hold.
const INIT_LAYOUTS: &[(&str, &str, &[&str], &str)] = &[
    // Symbols in var['gene_name'], obs `gene` (symbols) beside `gene_id`
    // (Ensembl ids, which init picked before).
    (
        AD012,
        "replogle",
        &[
            "perturbation: gene\n",
            "gene_column: gene_name",
            "values: counts",
        ],
        REF,
    ),
    (
        AD07,
        "layer_counts",
        &["counts: layers/counts", "perturbation: perturbation\n"],
        REF,
    ),
    (AD012, "raw_counts", &["counts: raw"], REF),
    // A 0.7 file: float batch and control flag with NaN.
    (
        AD07,
        "nullable",
        &[
            "values: counts",
            "batch: batch\n",
            "control: {column: is_control}",
        ],
        REF_NA,
    ),
];

/// The pipeline for data without an embedding in the file (CMap).
fn pipeline_without_obsm(datasets: &[String], name: &str) -> String {
    pipeline(datasets, name, "").replace("  - {name: emb, kind: obsm, key: X_emb}\n", "")
}

/// The pipeline every layout that must equal its reference runs.
fn pipeline(datasets: &[String], name: &str, extra_representation: &str) -> String {
    format!(
        "name: {name}
datasets: [{}]
seeds: [0]
representations:
  - {{name: pca, kind: pca, n_components: 8}}
  - {{name: emb, kind: obsm, key: X_emb}}
{extra_representation}postprocessing: [raw, center]
metrics:
  - {{kind: consistency, null: permutation, n_permutations: 50}}
  - {{kind: knn}}
  - {{kind: relationship_recall, sources: [pairs]}}
  - {{kind: interpretability}}
",
        datasets.join(", ")
    )
}

fn venvs() -> Option<PathBuf> {
    venvs_holding(&[AD07, AD010, AD012, CMAPPY])
}

/// The directory of the pinned environments (`scripts/venvs.sh`) when it
/// holds every one of `names`; otherwise None (the test skips), or a panic
/// under `PERTBENCH_REQUIRE_VENVS=1`.
pub(super) fn venvs_holding(names: &[&str]) -> Option<PathBuf> {
    let dir = std::env::var_os("PERTBENCH_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venvs"));
    let have = names
        .iter()
        .all(|v| dir.join(v).join(".requirements-sha256").is_file());
    if have {
        return Some(dir);
    }
    if std::env::var("PERTBENCH_REQUIRE_VENVS").as_deref() == Ok("1") {
        panic!(
            "PERTBENCH_REQUIRE_VENVS=1 but the environments {names:?} are missing from {} (bash scripts/venvs.sh builds them)",
            dir.display()
        );
    }
    eprintln!(
        "skipping: no environments {names:?} in {} (bash scripts/venvs.sh)",
        dir.display()
    );
    None
}

/// The synthetic screen in the neutral files `write_layouts.py` reads:
/// counts, embedding, obs (with NA marks for the nullable layout) and genes.
fn export_screen(p: &Project, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let clusters =
        pertbench_data::relationships::read_clusters(&p.path("mirror/clusters.tsv")).unwrap();
    let spec: pertbench_data::synthetic::SyntheticSpec = pertbench_data::yaml::from_str(
        Path::new("spec"),
        "{seed: 3, n_batches: 3, n_genes: 90, cells_per_perturbation: 9, controls_per_batch: 20, n_complexes: 8, n_unexpressed: 5, clusters: clusters}",
    )
    .unwrap();
    let s = pertbench_data::synthetic::generate(&spec, &clusters).unwrap();
    let (n, g) = (s.counts.nrows, s.counts.ncols);
    let mut dense = pertbench_kernels::Matrix::zeros((n, g));
    for i in 0..n {
        for (c, v) in s.counts.row(i) {
            dense[(i, c)] = v;
        }
    }
    pertbench_data::npy::write(&dir.join("counts.npy"), &dense).unwrap();
    // A fixed embedding that carries the perturbation signal: the first
    // 6 genes' counts scaled, plus a row-dependent term.
    let emb = pertbench_kernels::Matrix::from_shape_fn((n, 6), |(i, j)| {
        dense[(i, j * 7 % g)] * 0.5 + ((i * 31 + j * 17) % 13) as f32 * 0.01
    });
    pertbench_data::npy::write(&dir.join("emb.npy"), &emb).unwrap();
    let ensembl = |gene: &str| -> String {
        let k = s.genes.iter().position(|x| x == gene).unwrap_or(99_999);
        format!("ENSG{:011}", 100 + k)
    };
    let mut obs = String::from(
        "cell\tperturbation\tbatch\tis_control\tperturbation_id\tna_batch\tna_control\tna_perturbation\n",
    );
    for i in 0..n {
        let pert = &s.samples.perturbation[i];
        let id = if s.samples.is_control[i] {
            pert.clone()
        } else {
            ensembl(pert)
        };
        // Every 17th cell has an NA batch, every 19th an NA control flag and
        // every 23rd an NA perturbation (counted once each in `nullable`).
        obs += &format!(
            "cell{i:05}\t{pert}\t{}\t{}\t{id}\t{}\t{}\t{}\n",
            s.samples.batch[i].replace("batch", "b"),
            s.samples.is_control[i] as u8,
            (i % 17 == 3) as u8,
            (i % 19 == 5) as u8,
            (i % 23 == 7) as u8,
        );
    }
    std::fs::write(dir.join("obs.tsv"), obs).unwrap();
    let mut genes = String::from("symbol\tensembl\n");
    for gname in &s.genes {
        genes += &format!("{gname}\t{}\n", ensembl(gname));
    }
    std::fs::write(dir.join("genes.tsv"), genes).unwrap();
}

fn dataset_name(writer: &str, layout: &str, k: usize) -> String {
    format!("{}_{layout}_{k}", writer.replace(['-', '.'], "_"))
}

/// Writes a manifest for `file` (in the project's mirror) as dataset `name`.
fn write_manifest(p: &Project, name: &str, file: &str, extra: &str) {
    let path = p.path(&format!("mirror/{file}"));
    let sha = if path.is_file() {
        pertbench_data::fetch::sha256_file(&path).unwrap()
    } else {
        "0".repeat(64)
    };
    let columns = if extra.contains("columns:") {
        String::new()
    } else {
        "columns: {perturbation: perturbation, batch: batch, control: {column: is_control}}\n"
            .into()
    };
    p.write(
        &format!("manifests/{name}.yaml"),
        &format!(
            "name: {name}\nformat: h5ad\nsource: {{file: {file}}}\nsha256: {sha}\n{columns}{extra}"
        ),
    );
}

/// Every result row's numbers by its identity, for one dataset.
fn results_of(p: &Project, dataset: &str) -> BTreeMap<String, [Option<f64>; 5]> {
    let q = format!(
        "SELECT representation || ':' || postprocessing || ':' || metric || ':' || COALESCE(source, '') || ':' || variant || ':' || CAST(seed AS VARCHAR) AS id, \
         value, ci_low, ci_high, null_mean, p_value FROM results WHERE dataset = '{dataset}'"
    );
    let out = p.ok(&["sql", &q]);
    let mut rows = BTreeMap::new();
    for cells in super::table_rows(&out, "p_value") {
        let num = |s: &str| -> Option<f64> { (!s.is_empty()).then(|| s.parse().unwrap()) };
        rows.insert(
            cells[0].to_string(),
            [
                num(&cells[1]),
                num(&cells[2]),
                num(&cells[3]),
                num(&cells[4]),
                num(&cells[5]),
            ],
        );
    }
    rows
}

/// The largest difference between two datasets' result rows, which must be
/// the same rows with a number (or NaN, or nothing) in the same places.
fn max_diff(
    what: &str,
    got: &BTreeMap<String, [Option<f64>; 5]>,
    want: &BTreeMap<String, [Option<f64>; 5]>,
) -> f64 {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: the result rows differ"
    );
    let mut worst = 0.0f64;
    for (id, w) in want {
        for (a, b) in got[id].iter().zip(w) {
            match (a, b) {
                (Some(a), Some(b)) if a.is_nan() && b.is_nan() => {}
                (Some(a), Some(b)) => worst = worst.max((a - b).abs()),
                (None, None) => {}
                _ => panic!("{what}: row {id}: {:?} vs {w:?}", got[id]),
            }
        }
    }
    worst
}

#[test]
fn every_layout_of_the_real_writers_reads_right_or_fails_clearly() {
    let Some(venvs) = venvs() else {
        return;
    };
    let p = Project::new();
    let screen = p.path("screen");
    export_screen(&p, &screen);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/write_layouts.py");
    // Each writer writes its layouts into its own directory, then the files
    // move into the mirror under unique names.
    let mut by_writer: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    by_writer
        .entry(AD012)
        .or_default()
        .extend(["csr", "csr_without_na"]);
    for l in LAYOUTS {
        let v = by_writer.entry(l.writer).or_default();
        if !v.contains(&l.layout) {
            v.push(l.layout);
        }
    }
    for (writer, layouts) in &by_writer {
        let out = p.path(&format!("written/{writer}"));
        let o = Command::new(venvs.join(writer).join("bin/python"))
            .arg(&script)
            .arg(&screen)
            .arg(&out)
            .args(layouts)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{writer} could not write {layouts:?}:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let file_of = |writer: &str, layout: &str| -> String {
        let ext = if layout == "zarr" { "zarr" } else { "h5ad" };
        let name = format!("{}__{layout}.{ext}", writer.replace('.', "_"));
        let dest = p.path(&format!("mirror/{name}"));
        if !dest.exists() {
            std::fs::rename(p.path(&format!("written/{writer}/{layout}.{ext}")), &dest).unwrap();
        }
        name
    };
    write_manifest(&p, REF, &file_of(AD012, "csr"), "");
    write_manifest(&p, REF_NA, &file_of(AD012, "csr_without_na"), "");
    let mut equal = vec![REF.to_string(), REF_NA.to_string()];
    let mut failing = Vec::new();
    for (k, l) in LAYOUTS.iter().enumerate() {
        let name = dataset_name(l.writer, l.layout, k);
        let file = file_of(l.writer, l.layout);
        write_manifest(&p, &name, &file, l.manifest);
        match l.expect {
            Expect::Equal(_) => equal.push(name),
            Expect::Fails(_) => failing.push((name, l)),
        }
    }
    // `pertbench init` on the layouts whose counts or gene names are not
    // where a plain file has them: the manifest it writes must read them
    // right as written, so its dataset joins the pipeline against `ref`.
    let mut inits = Vec::new();
    for (writer, layout, must, r) in INIT_LAYOUTS {
        let name = format!("init_{}", dataset_name(writer, layout, 0));
        let file = file_of(writer, layout);
        let out = p.ok(&["init", &format!("mirror/{file}"), "--name", &name]);
        let manifest = std::fs::read_to_string(p.path(&format!("manifests/{name}.yaml"))).unwrap();
        for m in *must {
            assert!(
                manifest.contains(m),
                "init on {writer} {layout}: the manifest lacks `{m}`:\n{manifest}\n{out}"
            );
        }
        assert!(
            !out.contains("perturbation labels of"),
            "init on {writer} {layout} warns that labels are not genes:\n{out}"
        );
        equal.push(name.clone());
        inits.push((name, *writer, *layout, *r));
    }
    // Every layout that must read right runs in one pipeline.
    p.write(
        "pipelines/conformance.yaml",
        &pipeline(&equal, "conformance", ""),
    );
    let out = p.ok(&["run", "pipelines/conformance.yaml", "--quiet"]);
    // The run summary says what each dataset with NA labels dropped.
    for (k, l) in LAYOUTS.iter().enumerate() {
        if l.layout != "nullable" {
            continue;
        }
        let name = dataset_name(l.writer, l.layout, k);
        let line = out
            .lines()
            .find(|x| x.starts_with(&format!("{name}: dropped at ingestion: ")))
            .unwrap_or_else(|| panic!("no drops reported for {name}:\n{out}"));
        for why in [
            "(missing batch)",
            "(missing control flag)",
            "(missing perturbation)",
        ] {
            assert!(line.contains(why), "{line}");
        }
    }
    let mut report = Vec::new();
    let reference: BTreeMap<&str, _> = [REF, REF_NA]
        .iter()
        .map(|r| (*r, results_of(&p, r)))
        .collect();
    for r in [REF, REF_NA] {
        assert!(
            reference[r].len() > 30
                && reference[r]
                    .values()
                    .any(|v| v[0].is_some_and(|x| x != 0.0)),
            "reference `{r}` has too few results: {:?}",
            reference[r]
        );
    }
    assert_ne!(
        reference[REF].values().map(|v| v[0]).collect::<Vec<_>>(),
        reference[REF_NA].values().map(|v| v[0]).collect::<Vec<_>>(),
        "dropping the NA rows must change the results"
    );
    // Each dataset's rows against its reference's: the same rows, every
    // number within 1e-9 (NaN where the reference has NaN).
    let compare = |what: &str, name: &str, r: &str| -> String {
        let got = results_of(&p, name);
        let worst = max_diff(what, &got, &reference[r]);
        assert!(
            worst <= 1e-9,
            "{what}: results differ from `{r}`'s by {worst}"
        );
        format!(
            "{what}: {} rows equal to {r} (max diff {worst:e})",
            got.len()
        )
    };
    for (k, l) in LAYOUTS.iter().enumerate() {
        let Expect::Equal(r) = l.expect else { continue };
        let name = dataset_name(l.writer, l.layout, k);
        report.push(compare(&format!("{} {}", l.writer, l.layout), &name, r));
    }
    for (name, writer, layout, r) in &inits {
        report.push(compare(&format!("init on {writer} {layout}"), name, r));
    }
    // The layouts that must be refused, one run each, with their error.
    for (name, l) in failing {
        let extra = if l.layout == "dup_obs_names" {
            std::fs::copy(
                p.path(&format!("written/{}/dup_obs_names_emb.csv", l.writer)),
                p.path("dup_emb.csv"),
            )
            .unwrap();
            "  - {name: table, kind: table, path: dup_emb.csv, id_column: cell, prefix: emb_}\n"
        } else {
            ""
        };
        let file = format!("pipelines/{name}.yaml");
        p.write(&file, &pipeline(&[name.clone()], &name, extra));
        let err = p.fails(&["run", &file, "--quiet"]);
        let Expect::Fails(needles) = l.expect else {
            unreachable!()
        };
        for needle in needles {
            assert!(
                err.contains(needle),
                "{} {}: the error lacks `{needle}`:\n{err}",
                l.writer,
                l.layout
            );
        }
        assert!(
            !err.contains("panicked"),
            "{} {}: {err}",
            l.writer,
            l.layout
        );
        report.push(format!(
            "{} {}: refused: {}",
            l.writer,
            l.layout,
            err.lines().last().unwrap_or("")
        ));
    }
    eprintln!("{}", report.join("\n"));
}

/// A project whose mirror holds the screen as `script` (in
/// tests/conformance) writes it with the writer of environment `venv`;
/// None (the test skips) without the environments.
fn project_written_by(venv: &str, script: &str) -> Option<Project> {
    let venvs = venvs()?;
    let p = Project::new();
    let screen = p.path("screen");
    export_screen(&p, &screen);
    let o = Command::new(venvs.join(venv).join("bin/python"))
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/conformance")
                .join(script),
        )
        .arg(&screen)
        .arg(p.path("mirror"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{venv} could not run {script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(p)
}

/// CMap's layouts of one screen (log-normalised values, 4 decimals), each
/// with its manifest lines and expected outcome. The reference reads the
/// cmapPy gctx with a gene table naming its Entrez-like ids by symbol, the
/// path `l1000_crispr_lincs2020` uses.
const CMAP_LAYOUTS: &[(&str, &str, &str, Expect)] = &[
    ("gctx", "cmap.gctx", "format: gctx\nvalues: log_expression\ngene_column: pr_gene_symbol\n", Expect::Equal(CMAP_REF)),
    ("gct 1.3", "cmap.gct", "format: gct\nvalues: log_expression\ngene_column: pr_gene_symbol\n", Expect::Equal(CMAP_REF)),
    ("gct 1.3 gzip", "cmap.gct.gz", "format: gct\nvalues: log_expression\ngene_column: pr_gene_symbol\n", Expect::Equal(CMAP_REF)),
    // 1.2 carries no sample fields: they come from a joined table.
    (
        "gct 1.2",
        "cmap_v12.gct",
        "format: gct\nvalues: log_expression\ngene_column: Description\nmetadata: {dataset: colinfo, key: sample_id}\n",
        Expect::Equal(CMAP_REF),
    ),
    (
        "gctx read as counts",
        "cmap.gctx",
        "format: gctx\ngene_column: pr_gene_symbol\n",
        Expect::Fails(&["is not a whole number", "set `values: log_expression`"]),
    ),
    (
        "gct with an unknown gene field",
        "cmap.gct",
        "format: gct\nvalues: log_expression\ngene_column: pr_symbol\n",
        Expect::Fails(&["`gene_column: pr_symbol`: no such row metadata field", "pr_gene_symbol"]),
    ),
];

const CMAP_REF: &str = "cmap_ref";

const CMAP_COLUMNS: &str =
    "columns: {perturbation: cmap_name, batch: det_plate, control: {column: pert_type, in: [ctl_vector]}}\n";

fn write_cmap_manifest(p: &Project, name: &str, file: &str, lines: &str) {
    let sha = pertbench_data::fetch::sha256_file(&p.path(&format!("mirror/{file}"))).unwrap();
    p.write(
        &format!("manifests/{name}.yaml"),
        &format!("name: {name}\nsource: {{file: {file}}}\nsha256: {sha}\n{lines}{CMAP_COLUMNS}"),
    );
}

#[test]
fn cmap_gctx_and_gct_of_cmappy_read_right_or_fail_clearly() {
    let Some(p) = project_written_by(CMAPPY, "write_cmap.py") else {
        return;
    };
    p.write(
        "manifests/geneinfo.yaml",
        &format!(
            "name: geneinfo\nformat: table\nsource: {{file: geneinfo.tsv}}\nsha256: {}\n",
            pertbench_data::fetch::sha256_file(&p.path("mirror/geneinfo.tsv")).unwrap()
        ),
    );
    p.write(
        "manifests/colinfo.yaml",
        &format!(
            "name: colinfo\nformat: table\nsource: {{file: colinfo.tsv}}\nsha256: {}\n",
            pertbench_data::fetch::sha256_file(&p.path("mirror/colinfo.tsv")).unwrap()
        ),
    );
    write_cmap_manifest(
        &p,
        CMAP_REF,
        "cmap.gctx",
        "format: gctx\nvalues: log_expression\ngenes: {dataset: geneinfo, key: gene_id, name: gene_symbol}\n",
    );
    let mut equal = vec![CMAP_REF.to_string()];
    let mut failing = Vec::new();
    for (k, (what, file, lines, expect)) in CMAP_LAYOUTS.iter().enumerate() {
        let name = format!("cmap_{k}");
        write_cmap_manifest(&p, &name, file, lines);
        match expect {
            Expect::Equal(_) => equal.push(name),
            Expect::Fails(needles) => failing.push((name, *what, *needles)),
        }
    }
    p.write(
        "pipelines/cmap.yaml",
        &pipeline_without_obsm(&equal, "cmap"),
    );
    p.ok(&["run", "pipelines/cmap.yaml", "--quiet"]);
    let reference = results_of(&p, CMAP_REF);
    assert!(
        reference.len() > 20
            && reference.keys().any(|k| k.contains("relationship_recall"))
            && reference.values().any(|v| v[0].is_some_and(|x| x > 0.0)),
        "the CMap reference has too few results: {reference:?}"
    );
    let mut report = Vec::new();
    for (k, (what, _, _, expect)) in CMAP_LAYOUTS.iter().enumerate() {
        let Expect::Equal(_) = expect else { continue };
        let got = results_of(&p, &format!("cmap_{k}"));
        let worst = max_diff(what, &got, &reference);
        assert!(
            worst <= 1e-9,
            "{what}: results differ from the reference by {worst}"
        );
        report.push(format!(
            "{what}: {} rows equal to the gctx + gene table reference (max diff {worst:e})",
            got.len()
        ));
    }
    // `pertbench init` on the gct and the gctx: its manifest reads them
    // right as written (log expression, symbols from pr_gene_symbol,
    // controls by pert_type).
    let mut inits = Vec::new();
    for file in ["cmap.gct", "cmap.gctx"] {
        let name = format!("init_{}", file.replace('.', "_"));
        p.ok(&["init", &format!("mirror/{file}"), "--name", &name]);
        let manifest = std::fs::read_to_string(p.path(&format!("manifests/{name}.yaml"))).unwrap();
        for must in [
            "values: log_expression",
            "gene_column: pr_gene_symbol",
            "perturbation: cmap_name",
            "batch: det_plate",
            "control: {column: pert_type, in: [ctl_vector]}",
        ] {
            assert!(
                manifest.contains(must),
                "init on {file}: the manifest lacks `{must}`:\n{manifest}"
            );
        }
        inits.push(name);
    }
    p.write(
        "pipelines/cmap_init.yaml",
        &pipeline_without_obsm(&inits, "cmap_init"),
    );
    p.ok(&["run", "pipelines/cmap_init.yaml", "--quiet"]);
    for name in &inits {
        let worst = max_diff(name, &results_of(&p, name), &reference);
        assert!(
            worst <= 1e-9,
            "{name}: results differ from the reference by {worst}"
        );
        report.push(format!(
            "{name}: equal to the reference (max diff {worst:e})"
        ));
    }
    for (name, what, needles) in failing {
        let file = format!("pipelines/{name}.yaml");
        p.write(&file, &pipeline_without_obsm(&[name.clone()], &name));
        let err = p.fails(&["run", &file, "--quiet"]);
        for needle in needles {
            assert!(
                err.contains(needle),
                "{what}: the error lacks `{needle}`:\n{err}"
            );
        }
        assert!(!err.contains("panicked"), "{what}: {err}");
        report.push(format!(
            "{what}: refused: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    eprintln!("{}", report.join("\n"));
}

const PROFILE_REF: &str = "profiles_ref";

/// Cell Painting-style profile tables: file, manifest `features` line,
/// expected outcome.
const PROFILE_LAYOUTS: &[(&str, &str, Expect)] = &[
    (
        "profiles.csv.gz",
        "features: {}",
        Expect::Equal(PROFILE_REF),
    ),
    ("profiles.tsv", "features: {}", Expect::Equal(PROFILE_REF)),
    (
        "profiles.parquet",
        "features: {}",
        Expect::Equal(PROFILE_REF),
    ),
    (
        "profiles.csv",
        "features: {regex: '^(Cells|Nuclei|Cytoplasm)_'}",
        Expect::Equal(PROFILE_REF),
    ),
    (
        "profiles_nan.csv",
        "features: {missing: drop_features}",
        Expect::Equal("profiles_nan_drop_features"),
    ),
    (
        "profiles_nan.csv",
        "features: {missing: drop_samples}",
        Expect::Equal("profiles_nan_drop_samples"),
    ),
    (
        "profiles_nan.csv",
        "features: {}",
        Expect::Fails(&[
            "is missing (or NaN, Inf) at row",
            "missing: drop_features | drop_samples | mean_impute",
        ]),
    ),
    (
        "profiles.csv",
        "features: {prefix: Metadata_}",
        Expect::Fails(&["feature column `Metadata_Cell` is not numeric"]),
    ),
];

fn write_profile_manifest(p: &Project, name: &str, file: &str, features: &str) {
    let sha = pertbench_data::fetch::sha256_file(&p.path(&format!("mirror/{file}"))).unwrap();
    let format = if file.ends_with(".parquet") {
        "parquet"
    } else {
        "csv"
    };
    p.write(
        &format!("manifests/{name}.yaml"),
        &format!(
            "name: {name}\nformat: {format}\nsource: {{file: {file}}}\nsha256: {sha}\n{features}\ncolumns: {{perturbation: Metadata_gene, batch: Metadata_Plate, sample_id: Metadata_Cell, control: {{column: Metadata_control}}}}\n"
        ),
    );
}

fn profile_pipeline(datasets: &[String], name: &str) -> String {
    pipeline(datasets, name, "").replace(
        "  - {name: emb, kind: obsm, key: X_emb}\n",
        "  - {name: cellprofiler, kind: features}\n",
    )
}

#[test]
fn profile_tables_in_every_format_read_right_or_fail_clearly() {
    let Some(p) = project_written_by(AD012, "write_profiles.py") else {
        return;
    };
    write_profile_manifest(&p, PROFILE_REF, "profiles.csv", "features: {}");
    for r in ["profiles_nan_drop_features", "profiles_nan_drop_samples"] {
        write_profile_manifest(&p, r, &format!("{r}.csv"), "features: {}");
    }
    write_profile_manifest(
        &p,
        "profiles_impute",
        "profiles_nan.csv",
        "features: {missing: mean_impute}",
    );
    let mut equal: Vec<String> = [
        PROFILE_REF,
        "profiles_nan_drop_features",
        "profiles_nan_drop_samples",
        "profiles_impute",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut failing = Vec::new();
    for (k, (file, features, expect)) in PROFILE_LAYOUTS.iter().enumerate() {
        let name = format!("profiles_{k}");
        write_profile_manifest(&p, &name, file, features);
        match expect {
            Expect::Equal(_) => equal.push(name),
            Expect::Fails(needles) => failing.push((name, *file, *features, *needles)),
        }
    }
    p.write(
        "pipelines/profiles.yaml",
        &profile_pipeline(&equal, "profiles"),
    );
    p.ok(&["run", "pipelines/profiles.yaml", "--quiet"]);
    let mut report = Vec::new();
    for (k, (file, features, expect)) in PROFILE_LAYOUTS.iter().enumerate() {
        let Expect::Equal(r) = expect else { continue };
        let want = results_of(&p, r);
        assert!(
            want.len() > 40
                && want.keys().any(|k| k.starts_with("cellprofiler:"))
                && want.values().any(|v| v[0].is_some_and(|x| x > 0.0)),
            "reference `{r}` has too few results: {want:?}"
        );
        let got = results_of(&p, &format!("profiles_{k}"));
        let what = format!("{file} {features}");
        let worst = max_diff(&what, &got, &want);
        assert!(
            worst <= 1e-9,
            "{what}: results differ from `{r}`'s by {worst}"
        );
        report.push(format!(
            "{file} {features}: {} rows equal to {r} (max diff {worst:e})",
            got.len()
        ));
    }
    // Drops and imputations are in every row's convention.
    for (name, needle) in [
        (
            "profiles_4",
            "dropped_at_ingest=features with missing values (missing: drop_features):2",
        ),
        (
            "profiles_5",
            "dropped_at_ingest=missing feature values (missing: drop_samples):3",
        ),
        (
            "profiles_impute",
            "feature values imputed by the feature mean (missing: mean_impute):4",
        ),
    ] {
        let out = p.ok(&[
            "sql",
            &format!("SELECT DISTINCT convention FROM results WHERE dataset = '{name}'"),
        ]);
        assert!(
            out.lines()
                .filter(|l| l.starts_with("| "))
                .skip(1)
                .all(|l| l.contains(needle)),
            "{name}: conventions lack `{needle}`:\n{out}"
        );
    }
    // `pertbench init` on the gzipped csv: its manifest reads it right.
    p.ok(&["init", "mirror/profiles.csv.gz", "--name", "init_profiles"]);
    let manifest = std::fs::read_to_string(p.path("manifests/init_profiles.yaml")).unwrap();
    for must in [
        "format: csv",
        "features: {}",
        "perturbation: Metadata_gene",
        "batch: Metadata_Plate",
        "control: {column: Metadata_control}",
    ] {
        assert!(
            manifest.contains(must),
            "init on profiles.csv.gz: the manifest lacks `{must}`:\n{manifest}"
        );
    }
    p.write(
        "pipelines/init_profiles.yaml",
        &profile_pipeline(&["init_profiles".into()], "init_profiles"),
    );
    p.ok(&["run", "pipelines/init_profiles.yaml", "--quiet"]);
    // Sample ids are row numbers here (init maps no id column), which no
    // metric reads: the numbers equal the reference's.
    let worst = max_diff(
        "init on profiles.csv.gz",
        &results_of(&p, "init_profiles"),
        &results_of(&p, PROFILE_REF),
    );
    assert!(
        worst <= 1e-9,
        "init on profiles.csv.gz: results differ by {worst}"
    );
    report.push(format!(
        "init on profiles.csv.gz: equal to {PROFILE_REF} (max diff {worst:e})"
    ));
    // One batch (the whole table as one experiment): metrics that split by
    // batch are skipped with what to set; `split_by: samples` runs them.
    let sha = pertbench_data::fetch::sha256_file(&p.path("mirror/profiles.csv")).unwrap();
    p.write(
        "manifests/one_batch.yaml",
        &format!("name: one_batch\nformat: csv\nsource: {{file: profiles.csv}}\nsha256: {sha}\nfeatures: {{}}\ncolumns: {{perturbation: Metadata_gene, batch: Metadata_Experiment, sample_id: Metadata_Cell, control: {{column: Metadata_control}}}}\n"),
    );
    p.write(
        "pipelines/one_batch.yaml",
        &profile_pipeline(&["one_batch".into()], "one_batch"),
    );
    let out = p.ok(&["run", "pipelines/one_batch.yaml", "--quiet"]);
    for metric in ["knn", "interpretability"] {
        assert!(
            out.contains(&format!(
                "skipped: one_batch: metric `{metric}`: the dataset has one batch"
            )) && out.contains("set `split_by: samples`"),
            "{out}"
        );
    }
    let plan = p.ok(&["plan", "pipelines/one_batch.yaml"]);
    assert!(plan.contains("skipped  one_batch: metric `knn`"), "{plan}");
    let one = results_of(&p, "one_batch");
    assert!(
        one.keys().all(|k| !k.contains(":knn:")) && one.keys().any(|k| k.contains(":consistency:")),
        "{one:?}"
    );
    p.write(
        "pipelines/one_batch_samples.yaml",
        &profile_pipeline(&["one_batch".into()], "one_batch_samples")
            .replace("seeds: [0]\n", "seeds: [0]\nsplit_by: samples\n"),
    );
    let out = p.ok(&["run", "pipelines/one_batch_samples.yaml", "--quiet"]);
    assert!(!out.contains("skipped:"), "{out}");
    let q = "SELECT COUNT(*) AS n FROM results WHERE pipeline = 'one_batch_samples' AND metric = 'knn' AND value IS NOT NULL";
    let n: usize = super::table_rows(&p.ok(&["sql", q]), "n")[0][0]
        .parse()
        .unwrap();
    assert!(n > 0, "split_by: samples gives kNN rows");
    // Or hold out whole wells: `columns.split_group` and `split_by: group`.
    p.write(
        "manifests/one_batch_wells.yaml",
        &format!("name: one_batch_wells\nformat: csv\nsource: {{file: profiles.csv}}\nsha256: {sha}\nfeatures: {{}}\ncolumns: {{perturbation: Metadata_gene, batch: Metadata_Experiment, split_group: Metadata_Well, sample_id: Metadata_Cell, control: {{column: Metadata_control}}}}\n"),
    );
    p.write(
        "pipelines/one_batch_wells.yaml",
        &profile_pipeline(&["one_batch_wells".into()], "one_batch_wells")
            .replace("seeds: [0]\n", "seeds: [0]\nsplit_by: group\n"),
    );
    let out = p.ok(&["run", "pipelines/one_batch_wells.yaml", "--quiet"]);
    assert!(!out.contains("skipped:"), "{out}");
    let q = "SELECT COUNT(*) AS n FROM results WHERE pipeline = 'one_batch_wells' AND metric = 'knn' AND value IS NOT NULL";
    let n_wells: usize = super::table_rows(&p.ok(&["sql", q]), "n")[0][0]
        .parse()
        .unwrap();
    assert!(n_wells > 0, "split_by: group gives kNN rows");
    report.push(format!("one batch: knn and interpretability skipped by batch; split_by: samples gives {n} knn rows, split_by: group (wells) {n_wells}"));
    for (name, file, features, needles) in failing {
        let path = format!("pipelines/{name}.yaml");
        p.write(&path, &profile_pipeline(&[name.clone()], &name));
        let err = p.fails(&["run", &path, "--quiet"]);
        for needle in needles {
            assert!(
                err.contains(needle),
                "{file} {features}: the error lacks `{needle}`:\n{err}"
            );
        }
        assert!(!err.contains("panicked"), "{file}: {err}");
        report.push(format!(
            "{file} {features}: refused: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn gene_level_maps_run_what_needs_no_controls_and_skip_the_rest_with_a_reason() {
    let Some(p) = project_written_by(AD012, "write_profiles.py") else {
        return;
    };
    for (name, file, format) in [
        ("map_csv", "gene_map.csv", "csv"),
        ("map_parquet", "gene_map.parquet", "parquet"),
        ("map_dup", "gene_map_dup.csv", "csv"),
    ] {
        let sha = pertbench_data::fetch::sha256_file(&p.path(&format!("mirror/{file}"))).unwrap();
        p.write(
            &format!("manifests/{name}.yaml"),
            &format!("name: {name}\nformat: {format}\nsource: {{file: {file}}}\nsha256: {sha}\ngene_map: {{gene: gene}}\nfeatures: {{}}\n"),
        );
    }
    let pipeline = |datasets: &str, name: &str| {
        format!(
            "name: {name}\ndatasets: [{datasets}]\nseeds: [0]\nrepresentations:\n  - {{name: map, kind: features}}\n  - {{name: pca, kind: pca, n_components: 8}}\npostprocessing: [raw, center]\nmetrics:\n  - {{kind: relationship_recall, sources: [pairs]}}\n  - {{kind: knn}}\n"
        )
    };
    p.write(
        "pipelines/maps.yaml",
        &pipeline("map_csv, map_parquet", "maps"),
    );
    let plan = p.ok(&["plan", "pipelines/maps.yaml"]);
    for needle in [
        "skipped  map_csv: post-processing `center`: a gene-level map",
        "skipped  map_csv: metric `knn`: a gene-level map",
        "(it runs relationship_recall)",
    ] {
        assert!(plan.contains(needle), "plan lacks `{needle}`:\n{plan}");
    }
    let out = p.ok(&["run", "pipelines/maps.yaml", "--quiet"]);
    assert!(out.contains("skipped: map_parquet: metric `knn`"), "{out}");
    let csv = results_of(&p, "map_csv");
    assert!(
        !csv.is_empty() && csv.keys().all(|k| k.contains(":raw:relationship_recall:")),
        "a map runs recall under raw only: {csv:?}"
    );
    // The map's own features find the complexes the screen was built on.
    let recall = csv["map:raw:relationship_recall:pairs:recall_0.05_0.95:0"][0].unwrap();
    assert!(recall > 0.3, "recall of the map's features: {recall}");
    assert_eq!(
        csv,
        results_of(&p, "map_parquet"),
        "csv and parquet maps differ"
    );
    // `pertbench init` on the map: a gene_map manifest whose results equal
    // the hand-written one's.
    p.ok(&["init", "mirror/gene_map.csv", "--name", "init_map"]);
    let manifest = std::fs::read_to_string(p.path("manifests/init_map.yaml")).unwrap();
    assert!(
        manifest.contains("gene_map: {gene: gene}") && manifest.contains("features: {}"),
        "{manifest}"
    );
    assert!(
        !manifest.lines().any(|l| l.starts_with("columns:")),
        "{manifest}"
    );
    let starter = std::fs::read_to_string(p.path("pipelines/init_map.yaml")).unwrap();
    assert!(
        starter.contains("postprocessing: [raw]") && starter.contains("kind: relationship_recall"),
        "{starter}"
    );
    p.write(
        "pipelines/init_map_run.yaml",
        &pipeline("init_map", "init_map_run"),
    );
    p.ok(&["run", "pipelines/init_map_run.yaml", "--quiet"]);
    assert_eq!(
        results_of(&p, "init_map"),
        csv,
        "init on the map: results differ"
    );
    p.write("pipelines/dup.yaml", &pipeline("map_dup", "dup"));
    let err = p.fails(&["run", "pipelines/dup.yaml", "--quiet"]);
    assert!(
        err.contains("gene_map: gene `") && err.contains("one row per gene"),
        "{err}"
    );
    eprintln!(
        "gene map: {} recall rows, recall_0.05_0.95 of its features {recall}",
        csv.len()
    );
}
