//! Ingestion of the real Papalexi 2021 screen from `../shared/data`.
//! Skipped with a message where `../shared` is absent; a failure instead
//! when PERTBENCH_REQUIRE_SHARED=1 (as `.ci/run` sets), so CI never passes
//! by skipping.

use pertbench_data::dataset::{load, DataContext};
use pertbench_data::fetch::FetchOptions;
use pertbench_data::h5ad::H5ad;
use std::path::PathBuf;

fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("PERTBENCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    if dir.join("data/papalexi2021_eccite_subset.h5ad").exists() {
        return Some(dir);
    }
    if std::env::var("PERTBENCH_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!(
            "PERTBENCH_REQUIRE_SHARED=1 but {} has no data/papalexi2021_eccite_subset.h5ad",
            dir.display()
        );
    }
    eprintln!(
        "skipping: {} not found (set PERTBENCH_SHARED)",
        dir.display()
    );
    None
}

#[test]
fn papalexi_ingests_as_documented() {
    let Some(shared) = shared() else { return };
    let work = tempfile::tempdir().unwrap();
    let ctx = DataContext {
        manifest_dirs: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data_manifests")],
        fetch: FetchOptions {
            mirrors: vec![shared.join("data"), shared.join("mirror")],
            data_dir: work.path().to_path_buf(),
            allow_network: false,
            allow_unpinned: false,
        },
    };
    let d = load("papalexi2021", &ctx).unwrap();
    assert_eq!(d.n_file_rows, 20_729);
    assert_eq!(d.dropped.get("perturbation `unassigned`"), Some(&1_110));
    assert_eq!(d.samples.len(), 20_729 - 1_110);
    let ctrl = d.samples.controls_per_batch();
    assert_eq!(ctrl.get("rep_1"), Some(&881));
    assert_eq!(ctrl.get("rep_2"), Some(&751));
    assert_eq!(ctrl.get("rep_3"), Some(&660));
    let counts = d.counts.as_ref().unwrap();
    assert_eq!((counts.nrows, counts.ncols), (19_619, 299));
    assert_eq!(d.genes.len(), 299);
    let perts: std::collections::BTreeSet<&String> = d
        .samples
        .perturbation
        .iter()
        .zip(&d.samples.is_control)
        .filter(|(_, c)| !**c)
        .map(|(p, _)| p)
        .collect();
    assert_eq!(perts.len(), 25);

    // Reading X restricted to rows equals the full read restricted afterwards.
    let h = H5ad::open(d.file.as_ref().unwrap()).unwrap();
    let full = h.read_x(None).unwrap();
    assert_eq!(full.nrows, 20_729);
    assert_eq!(full.nnz(), 1_390_126);
    assert_eq!(full.select_rows(&d.source_rows), *counts);

    // Known biology: STAT1 knock-down lowers STAT1 expression.
    let stat1 = d.genes.iter().position(|g| g == "STAT1").unwrap();
    let mean_of = |label: &str| {
        let rows: Vec<usize> = (0..d.samples.len())
            .filter(|&i| d.samples.perturbation[i] == label)
            .collect();
        let sub = counts.select_rows(&rows);
        let mut s = 0.0f64;
        for i in 0..sub.nrows {
            let total: f64 = sub.row(i).map(|(_, v)| v as f64).sum();
            s += sub
                .row(i)
                .find(|(c, _)| *c == stat1)
                .map(|(_, v)| (v as f64 / total * 1e4).ln_1p())
                .unwrap_or(0.0);
        }
        s / rows.len() as f64
    };
    assert!(mean_of("STAT1") < 0.8 * mean_of("non-targeting"));
}

/// Writes a small h5ad with dense X, a categorical obs column with a missing
/// (-1) code, string and bool columns, and a CSR obsm matrix.
fn write_small_h5ad(path: &std::path::Path) -> hdf5::Result<()> {
    use hdf5::types::VarLenUnicode;
    let s = |x: &str| x.parse::<VarLenUnicode>().unwrap();
    let strs = |v: &[&str]| ndarray::Array1::from(v.iter().map(|x| s(x)).collect::<Vec<_>>());
    let attr = |loc: &hdf5::Location, name: &str, val: &str| -> hdf5::Result<()> {
        loc.new_attr::<VarLenUnicode>()
            .create(name)?
            .write_scalar(&s(val))
    };
    let f = hdf5::File::create(path)?;
    let x = ndarray::arr2(&[
        [1.0f32, 0.0, 2.0],
        [0.0, 0.0, 0.0],
        [3.0, 4.0, 0.0],
        [0.0, 5.0, 6.0],
    ]);
    f.new_dataset_builder().with_data(&x).create("X")?;
    let obs = f.create_group("obs")?;
    attr(&obs, "_index", "_index")?;
    attr(&obs, "encoding-type", "dataframe")?;
    obs.new_dataset_builder()
        .with_data(&strs(&["a", "b", "c", "d"]))
        .create("_index")?;
    let pert = obs.create_group("pert")?;
    attr(&pert, "encoding-type", "categorical")?;
    pert.new_dataset_builder()
        .with_data(&strs(&["NT", "G1"]))
        .create("categories")?;
    pert.new_dataset_builder()
        .with_data(&ndarray::arr1(&[0i8, 1, -1, 1]))
        .create("codes")?;
    obs.new_dataset_builder()
        .with_data(&strs(&["r1", "r1", "r2", "r2"]))
        .create("batch")?;
    obs.new_dataset_builder()
        .with_data(&ndarray::arr1(&[true, false, false, false]))
        .create("ctrl")?;
    let var = f.create_group("var")?;
    attr(&var, "_index", "_index")?;
    var.new_dataset_builder()
        .with_data(&strs(&["g1", "g2", "g3"]))
        .create("_index")?;
    let obsm = f.create_group("obsm")?;
    let emb = obsm.create_group("X_emb")?;
    attr(&emb, "encoding-type", "csr_matrix")?;
    emb.new_attr::<i64>()
        .shape(2)
        .create("shape")?
        .write(&ndarray::arr1(&[4i64, 2]))?;
    emb.new_dataset_builder()
        .with_data(&ndarray::arr1(&[1.5f32, -2.0, 7.0]))
        .create("data")?;
    emb.new_dataset_builder()
        .with_data(&ndarray::arr1(&[0i32, 1, 0]))
        .create("indices")?;
    emb.new_dataset_builder()
        .with_data(&ndarray::arr1(&[0i32, 1, 2, 2, 3]))
        .create("indptr")?;
    Ok(())
}

#[test]
fn dense_x_categorical_missing_codes_and_csr_obsm() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("small.h5ad");
    write_small_h5ad(&p).unwrap();
    let h = H5ad::open(&p).unwrap();
    use pertbench_data::samples::RawColumn;
    assert_eq!(h.obs_names().unwrap(), vec!["a", "b", "c", "d"]);
    assert_eq!(h.var_names().unwrap(), vec!["g1", "g2", "g3"]);
    assert_eq!(
        h.obs_column("pert").unwrap(),
        Some(RawColumn::Str(vec![
            Some("NT".into()),
            Some("G1".into()),
            None,
            Some("G1".into())
        ]))
    );
    assert_eq!(
        h.obs_column("ctrl").unwrap(),
        Some(RawColumn::Bool(vec![
            Some(true),
            Some(false),
            Some(false),
            Some(false)
        ]))
    );
    assert_eq!(h.obs_column("absent").unwrap(), None);
    // Dense X, restricted to rows 0, 2, 3, read as CSR.
    let x = h.read_x(Some(&[0, 2, 3])).unwrap();
    assert_eq!((x.nrows, x.ncols, x.nnz()), (3, 3, 6));
    assert_eq!(x.row(1).collect::<Vec<_>>(), vec![(0, 3.0), (1, 4.0)]);
    // CSR obsm (indptr 0,1,2,2,3: row 2 empty) densified for rows 0 and 3.
    let e = h.read_obsm("X_emb", Some(&[0, 3])).unwrap();
    assert_eq!(e, ndarray::arr2(&[[1.5f32, 0.0], [7.0, 0.0]]));
    let e = h.read_obsm("X_emb", None).unwrap();
    assert_eq!(
        e,
        ndarray::arr2(&[[1.5f32, 0.0], [0.0, -2.0], [0.0, 0.0], [7.0, 0.0]])
    );
    let err = h.read_obsm("X_nope", None).unwrap_err().to_string();
    assert!(
        err.contains("small.h5ad") && err.contains("no key `X_nope`") && err.contains("X_emb"),
        "{err}"
    );
}

/// An L1000-shaped screen as LINCS 2020 publishes it: a treated gctx, a
/// shared control gctx (with plates of other screens) and an instinfo table
/// joined by sample id.
#[test]
fn gctx_screen_with_appended_controls_and_joined_metadata() {
    use pertbench_data::gctx;
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::create_dir_all(&manifests).unwrap();
    let genes: Vec<String> = ["5720", "466", "6009"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // value = 1 + sample offset + gene / 10.
    let fill = |offset: usize| {
        move |first: usize, b: &mut pertbench_kernels::Matrix| {
            for ((i, g), v) in b.indexed_iter_mut() {
                *v = 1.0 + (offset + first + i) as f32 + g as f32 / 10.0;
            }
        }
    };
    gctx::write(
        &mirror.join("trt.gctx"),
        &ids(&["t1", "t2", "t3", "t4"]),
        &genes,
        &[],
        2,
        &mut fill(0),
    )
    .unwrap();
    gctx::write(
        &mirror.join("ctl.gctx"),
        &ids(&["c1", "c2", "c3", "c9"]),
        &genes,
        &[],
        2,
        &mut fill(10),
    )
    .unwrap();
    // t4 is not in the metadata; c9 is on plate P9 of another screen.
    std::fs::write(
        mirror.join("instinfo_beta.txt"),
        "sample_id\tcmap_name\tpert_type\tdet_plate\tcell_iname\n\
         t1\tTP53\ttrt_xpr\tP1\tA375\n\
         t2\tKRAS\ttrt_xpr\tP1\tA375\n\
         t3\tTP53\ttrt_xpr\tP2\tHT29\n\
         c1\tLACZ\tctl_vector\tP1\tA375\n\
         c2\tUnTrt\tctl_untrt\tP2\tHT29\n\
         c3\tLACZ\tctl_vector\tP2\tHT29\n\
         c9\tDMSO\tctl_vehicle\tP9\tMCF7\n",
    )
    .unwrap();
    std::fs::write(
        manifests.join("info.yaml"),
        "name: info\nformat: table\nsource: {file: instinfo_beta.txt}\nsha256: unpinned\n",
    )
    .unwrap();
    std::fs::write(
        mirror.join("geneinfo_beta.txt"),
        "gene_id\tgene_symbol\tfeature_space\n5720\tPSME1\tlandmark\n466\tATF1\tinferred\n6009\tRHEB\tlandmark\n",
    )
    .unwrap();
    std::fs::write(
        manifests.join("geneinfo.yaml"),
        "name: geneinfo\nformat: table\nsource: {file: geneinfo_beta.txt}\nsha256: unpinned\n",
    )
    .unwrap();
    std::fs::write(
        manifests.join("ctl.yaml"),
        "name: ctl\nformat: gctx\nsource: {file: ctl.gctx}\nsha256: unpinned\nvalues: log_expression\n\
         columns: {perturbation: cmap_name, batch: det_plate, control: {column: pert_type, in: [ctl_vector, ctl_untrt, ctl_vehicle]}}\n",
    )
    .unwrap();
    std::fs::write(
        manifests.join("screen.yaml"),
        "name: screen\nformat: gctx\nsource: {file: trt.gctx}\nsha256: unpinned\nvalues: log_expression\n\
         append: [ctl]\nmetadata: {dataset: info, key: sample_id}\n\
         genes: {dataset: geneinfo, key: gene_id, name: gene_symbol, keep: {feature_space: [landmark]}}\n\
         columns:\n  perturbation: cmap_name\n  batch: det_plate\n  context: cell_iname\n  batches: with_perturbations\n  \
         control: {column: pert_type, in: [ctl_vector, ctl_untrt, ctl_vehicle]}\n",
    )
    .unwrap();
    let ctx = ctx_in(dir.path());
    let d = load("screen", &ctx).unwrap();
    assert_eq!(d.n_file_rows, 8);
    assert_eq!(
        d.samples.sample_id,
        ids(&["t1", "t2", "t3", "c1", "c2", "c3"])
    );
    assert_eq!(
        d.samples.is_control,
        vec![false, false, false, true, true, true]
    );
    assert_eq!(d.samples.batch, ids(&["P1", "P1", "P2", "P1", "P2", "P2"]));
    assert_eq!(
        d.samples.context.as_ref().unwrap(),
        &ids(&["A375", "A375", "HT29", "A375", "HT29", "HT29"])
    );
    assert_eq!(d.source_rows, vec![0, 1, 2, 4, 5, 6]);
    assert_eq!(d.values, pertbench_data::manifest::Values::LogExpression);
    let dropped: Vec<(&String, &usize)> = d.dropped.iter().collect();
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert_eq!(d.dropped["batch without perturbations"], 1);
    assert!(d.dropped.keys().any(|k| k.starts_with("not in metadata")));
    let x = d.counts.as_ref().unwrap();
    // Landmark genes only, named by symbol.
    assert_eq!((x.nrows, x.ncols), (6, 2));
    assert_eq!(d.genes, ids(&["PSME1", "RHEB"]));
    // c2 is row 1 of ctl.gctx: 1 + 10 + 1 + g/10, genes 0 and 2.
    let c2: Vec<(usize, f32)> = x.row(4).collect();
    assert_eq!(c2, vec![(0, 12.0), (1, 12.2)]);

    // Bad input: genes that differ between the appended files.
    gctx::write(
        &mirror.join("ctl.gctx"),
        &ids(&["c1"]),
        &ids(&["5720", "999", "6009"]),
        &[],
        2,
        &mut fill(0),
    )
    .unwrap();
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    let e = load("screen", &ctx).err().unwrap().to_string();
    assert!(
        e.contains("ctl.gctx") && e.contains("gene 1 is `999` here and `466` there"),
        "{e}"
    );
    // A metadata column that is missing is named.
    std::fs::write(
        manifests.join("screen.yaml"),
        std::fs::read_to_string(manifests.join("screen.yaml"))
            .unwrap()
            .replace("append: [ctl]\n", "")
            .replace("cell_iname", "cell_line"),
    )
    .unwrap();
    let e = load("screen", &ctx).err().unwrap().to_string();
    assert!(
        e.contains("column `cell_line` (mapped as `context`) is missing"),
        "{e}"
    );
}

/// Every committed manifest parses, and the datasets a manifest is read with
/// (`append`, `metadata`) exist with the right format.
#[test]
fn committed_manifests_parse_and_their_parts_exist() {
    use pertbench_data::manifest::{self, Format};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data_manifests");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml") {
            let m = manifest::Manifest::load(&p).unwrap_or_else(|e| panic!("{e}"));
            for name in &m.append {
                let (_, part) = manifest::find(name, &[dir.clone()]).unwrap();
                assert_eq!(part.format, m.format, "{}: append {name}", p.display());
            }
            for table in m
                .metadata
                .iter()
                .map(|j| &j.dataset)
                .chain(m.genes.iter().map(|g| &g.dataset))
            {
                let (_, part) = manifest::find(table, &[dir.clone()]).unwrap();
                assert_eq!(part.format, Format::Table, "{}: {table}", p.display());
            }
            n += 1;
        }
    }
    assert!(n >= 12, "{n} manifests");
    let (_, l1000) = manifest::find("l1000_crispr_lincs2020", &[dir]).unwrap();
    assert_eq!(
        l1000.parts(),
        vec![
            "l1000_lincs2020_level3_ctl",
            "l1000_lincs2020_instinfo",
            "l1000_lincs2020_geneinfo"
        ]
    );
}

/// A 7-cell CSR screen written by the h5ad writer in two blocks, with an
/// unassigned cell the manifest drops; returns (path, the full X).
fn write_csr_screen(dir: &std::path::Path) -> (PathBuf, pertbench_kernels::sparse::csr::CsrMatrix) {
    use pertbench_data::h5ad_writer::CsrH5adWriter;
    use pertbench_kernels::sparse::csr::CsrMatrix;
    let x = CsrMatrix::new(
        7,
        4,
        vec![0, 2, 3, 3, 5, 6, 8, 9],
        vec![0, 3, 1, 0, 2, 3, 1, 2, 0],
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    )
    .unwrap();
    let path = dir.join("mirror/screen.h5ad");
    let mut w = CsrH5adWriter::create(&path, 4, 4).unwrap();
    w.push_block(&x.select_rows(&[0, 1, 2])).unwrap();
    w.push_block(&x.select_rows(&[3, 4, 5, 6])).unwrap();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    w.finish(
        &s(&["c0", "c1", "c2", "c3", "c4", "c5", "c6"]),
        &[
            ("gene", &s(&["NT", "A", "unassigned", "B", "NT", "A", "B"])),
            ("rep", &s(&["r1", "r1", "r1", "r2", "r2", "r2", "r1"])),
        ],
        &s(&["g1", "g2", "g3", "g4"]),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    std::fs::write(
        dir.join("manifests/screen.yaml"),
        "name: screen\nformat: h5ad\nsource: {file: screen.h5ad}\nsha256: unpinned\n\
         columns: {perturbation: gene, batch: rep, control: {column: gene, in: [NT]}, drop_labels: [unassigned]}\n",
    )
    .unwrap();
    (path, x)
}

fn ctx_in(dir: &std::path::Path) -> DataContext {
    DataContext {
        manifest_dirs: vec![dir.join("manifests")],
        fetch: FetchOptions {
            mirrors: vec![dir.join("mirror")],
            data_dir: dir.join("data"),
            allow_network: false,
            allow_unpinned: true,
        },
    }
}

/// Streaming ingestion: X read in blocks of two values into a memory-mapped
/// count cache equals the in-memory read, for CSR and dense X.
#[test]
fn h5ad_streams_into_a_memory_mapped_count_cache() {
    use pertbench_data::dataset::{load_with, LoadOptions};
    let dir = tempfile::tempdir().unwrap();
    let (path, x) = write_csr_screen(dir.path());
    let h = H5ad::open(&path).unwrap();
    assert_eq!(h.read_x(None).unwrap(), x);
    let mut blocks = vec![];
    h.stream_x(Some(&[0, 1, 3, 4, 5, 6]), 2, &mut |b| {
        blocks.push(b.nnz());
        Ok(())
    })
    .unwrap();
    assert!(
        blocks.iter().all(|&n| n <= 2) && blocks.len() >= 4,
        "{blocks:?}"
    );
    let ctx = ctx_in(dir.path());
    let in_memory = load("screen", &ctx).unwrap();
    let dest = dir.path().join("cache/counts");
    let streamed = load_with(
        "screen",
        &ctx,
        &LoadOptions {
            counts_to: Some(dest.clone()),
            block_values: 2,
        },
    )
    .unwrap();
    let c = streamed.counts.as_ref().unwrap();
    assert!(c.is_mapped());
    assert_eq!(c, in_memory.counts.as_ref().unwrap());
    assert_eq!(*c, x.select_rows(&[0, 1, 3, 4, 5, 6]));
    assert_eq!(
        std::fs::metadata(dest.join("indices.u16")).unwrap().len(),
        2 * 9
    );
    // Dense X streams the same way.
    let dense_path = dir.path().join("dense.h5ad");
    write_small_h5ad(&dense_path).unwrap();
    let h = H5ad::open(&dense_path).unwrap();
    let mut rows = 0;
    h.stream_x(None, 3, &mut |b| {
        rows += b.nrows;
        assert_eq!(b.nrows, 1);
        Ok(())
    })
    .unwrap();
    assert_eq!(rows, 4);
}

/// Bad input (issue 5): a truncated h5ad, X neither CSR nor dense, a column
/// index out of range, each a clear error naming the file and no partial
/// cache left behind.
#[test]
fn bad_h5ad_inputs_are_named_errors_and_leave_no_cache() {
    use pertbench_data::dataset::{load_with, LoadOptions};
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_csr_screen(dir.path());
    let ctx = ctx_in(dir.path());
    let cache = dir.path().join("cache");
    let opts = LoadOptions {
        counts_to: Some(cache.join("counts")),
        block_values: 2,
    };
    let no_cache_left = || {
        let left: Vec<_> = std::fs::read_dir(&cache)
            .map(|r| r.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left behind: {left:?}");
    };
    let original = std::fs::read(&path).unwrap();
    let refetch = || {
        let _ = std::fs::remove_dir_all(dir.path().join("data"));
    };

    // Truncated.
    std::fs::write(&path, &original[..original.len() / 2]).unwrap();
    refetch();
    let e = load_with("screen", &ctx, &opts).err().unwrap().to_string();
    assert!(
        e.contains("screen.h5ad") && (e.contains("not a readable HDF5") || e.contains("X")),
        "{e}"
    );
    no_cache_left();

    // X stored as CSC.
    std::fs::write(&path, &original).unwrap();
    {
        let f = hdf5::File::open_rw(&path).unwrap();
        let x = f.group("X").unwrap();
        x.attr("encoding-type")
            .unwrap()
            .write_scalar(&"csc_matrix".parse::<hdf5::types::VarLenUnicode>().unwrap())
            .unwrap();
    }
    refetch();
    let e = load_with("screen", &ctx, &opts).err().unwrap().to_string();
    assert!(
        e.contains("screen.h5ad")
            && e.contains("X is stored as csc_matrix;")
            && e.contains("csr_matrix(adata.X)"),
        "{e}"
    );
    no_cache_left();

    // A column index out of range (row 4 of the file points at column 9 of 4).
    std::fs::write(&path, &original).unwrap();
    {
        let f = hdf5::File::open_rw(&path).unwrap();
        f.dataset("X/indices")
            .unwrap()
            .write_slice(&[9i32], ndarray::s![5..6])
            .unwrap();
    }
    refetch();
    let e = load_with("screen", &ctx, &opts).err().unwrap().to_string();
    assert!(
        e.contains("screen.h5ad")
            && e.contains("X/indices[5] = 9 (row 4) is out of range for 4 columns"),
        "{e}"
    );
    no_cache_left();

    // A negative extent in X's shape attribute (found by the h5ad_layout
    // fuzz target: it wrapped to a huge row count and `n + 1` overflowed).
    for shape in [[-1i64, 4], [6, -3], [6, 1 << 40]] {
        std::fs::write(&path, &original).unwrap();
        {
            let f = hdf5::File::open_rw(&path).unwrap();
            f.group("X")
                .unwrap()
                .attr("shape")
                .unwrap()
                .write(&ndarray::arr1(&shape))
                .unwrap();
        }
        refetch();
        let e = load_with("screen", &ctx, &opts).err().unwrap().to_string();
        assert!(
            e.contains("screen.h5ad")
                && e.contains("X: shape attribute")
                && (e.contains("negative") || e.contains("at most 4294967295")),
            "{shape:?}: {e}"
        );
        no_cache_left();
    }
}

/// A process forked while the writer has its file open inherits the open
/// file (HDF5 does not open with O_CLOEXEC); the finished file must still
/// open, so the writer takes no lock on its private temporary.
#[test]
fn a_child_process_started_during_a_write_does_not_lock_the_finished_file() {
    use pertbench_data::h5ad_writer::CsrH5adWriter;
    use pertbench_kernels::sparse::csr::CsrMatrix;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("screen.h5ad");
    let x = CsrMatrix::new(2, 2, vec![0, 1, 2], vec![0, 1], vec![1.0, 2.0]).unwrap();
    let mut w = CsrH5adWriter::create(&path, 2, 0).unwrap();
    w.push_block(&x).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let finished = w.finish(
        &s(&["c0", "c1"]),
        &[("gene", &s(&["A", "B"]))],
        &s(&["g1", "g2"]),
    );
    let opened = hdf5::File::open(&path).map(|_| ());
    child.kill().unwrap();
    child.wait().unwrap();
    finished.unwrap();
    opened.unwrap();
}
