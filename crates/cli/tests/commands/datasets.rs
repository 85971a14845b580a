//! `datasets` and `fetch`, and datasets of other formats (CMap) through a run.

use crate::*;

#[test]
fn datasets_lists_a_manifest_that_does_not_parse_with_its_error() {
    let p = Project::new();
    p.write(
        "manifests/broken.yaml",
        "name: broken\nformat: h5ad\nsource: {file: b.h5ad}\nsha256: unpinned\ncolums: {}\n",
    );
    let out = p.ok(&["datasets"]);
    assert!(out.contains("synth"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("broken.yaml"))
        .unwrap_or_else(|| panic!("the broken manifest is not listed:\n{out}"));
    assert!(
        line.contains("error") && line.contains("line 5") && line.contains("colums"),
        "{line}"
    );
}

/// An L1000-shaped screen (log expression in gctx files: treated plates, a
/// shared control file with another screen's plate, an instinfo table) runs
/// through `fetch` and a pipeline, and PCA beats a random embedding.
#[test]
fn gctx_log_expression_screen_fetches_its_parts_and_runs() {
    use pertbench_data::gctx;
    let p = Project::new();
    // splitmix64 noise in [-0.5, 0.5).
    let mut state = 7u64;
    let mut noise = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let genes: Vec<String> = (0..30)
        .flat_map(|c| (0..(3 + c % 3)).map(move |k| format!("G{c}_{k}")))
        .collect();
    let perts: Vec<(usize, String)> = (0..12)
        .flat_map(|c| (0..3).map(move |k| (c, format!("G{c}_{k}"))))
        .collect();
    let n_genes = genes.len();
    // Complex c moves gene g by +-1.2 on a third of the genes.
    let effect = |c: usize, g: usize| -> f32 {
        match (c * 7 + g * 13) % 6 {
            0 => 1.2,
            1 => -1.2,
            _ => 0.0,
        }
    };
    let mut trt_ids = vec![];
    let mut ctl_ids = vec![];
    let mut trt = vec![];
    let mut ctl = vec![];
    let mut info = String::from("sample_id\tcmap_name\tpert_type\tdet_plate\tcell_iname\n");
    for plate in 0..6 {
        let cell = if plate < 3 { "A375" } else { "HT29" };
        let base = |g: usize| 8.0 + (g % 5) as f32 * 0.5 + ((plate * 3 + g) % 4) as f32 * 0.3;
        for (c, name) in &perts {
            let id = format!("P{plate}:{name}");
            trt.push(
                (0..n_genes)
                    .map(|g| base(g) + effect(*c, g) + noise())
                    .collect::<Vec<f32>>(),
            );
            info.push_str(&format!("{id}\t{name}\ttrt_xpr\tP{plate}\t{cell}\n"));
            trt_ids.push(id);
        }
        for k in 0..8 {
            let id = format!("P{plate}:ctl{k}");
            ctl.push(
                (0..n_genes)
                    .map(|g| base(g) + noise())
                    .collect::<Vec<f32>>(),
            );
            info.push_str(&format!("{id}\tLACZ\tctl_vector\tP{plate}\t{cell}\n"));
            ctl_ids.push(id);
        }
    }
    // Another screen's control plate, and a treated sample with no metadata.
    for k in 0..5 {
        let id = format!("P9:dmso{k}");
        ctl.push(vec![9.0; n_genes]);
        info.push_str(&format!("{id}\tDMSO\tctl_vehicle\tP9\tMCF7\n"));
        ctl_ids.push(id);
    }
    trt.push(vec![1.0; n_genes]);
    trt_ids.push("orphan".into());
    let write = |file: &str, ids: &[String], rows: &[Vec<f32>]| {
        gctx::write(
            &p.path(&format!("mirror/{file}")),
            ids,
            &genes,
            &[],
            16,
            &mut |first, b| {
                for ((i, g), v) in b.indexed_iter_mut() {
                    *v = rows[first + i][g];
                }
            },
        )
        .unwrap();
    };
    write("trt.gctx", &trt_ids, &trt);
    write("ctl.gctx", &ctl_ids, &ctl);
    p.write("mirror/instinfo.tsv", &info);
    p.manifest("instinfo", "table", "instinfo.tsv");
    let columns = "columns:\n  perturbation: cmap_name\n  batch: det_plate\n  context: cell_iname\n  batches: with_perturbations\n  control: {column: pert_type, in: [ctl_vector, ctl_untrt, ctl_vehicle]}\n";
    for (name, file, extra) in [
        ("l1000_ctl", "ctl.gctx", ""),
        (
            "l1000",
            "trt.gctx",
            "append: [l1000_ctl]\nmetadata: {dataset: instinfo, key: sample_id}\n",
        ),
    ] {
        let sha = sha256(&p.path(&format!("mirror/{file}")));
        p.write(
            &format!("manifests/{name}.yaml"),
            &format!("name: {name}\nformat: gctx\nsource: {{file: {file}}}\nsha256: {sha}\nvalues: log_expression\n{extra}{columns}"),
        );
    }
    let fetched = p.ok(&["fetch", "l1000"]);
    for name in ["l1000:", "l1000_ctl:", "instinfo:"] {
        assert!(fetched.contains(name), "{name}: {fetched}");
    }
    p.write(
        "pipelines/l1000.yaml",
        &pca_vs_random(
            "l1000",
            "  - {kind: consistency, null: permutation, n_permutations: 100}
  - {kind: relationship_recall, sources: [pairs]}
  - {kind: interpretability}
",
        ),
    );
    let out = p.ok(&["run", "pipelines/l1000.yaml", "--quiet"]);
    assert!(out.contains("nodes"), "{out}");
    let best = best_values(&p);
    let get = |m: &str, v: &str, r: &str| best[&(m.to_string(), v.to_string(), r.to_string())];
    for (m, v) in [
        ("consistency", "fraction_significant"),
        ("relationship_recall", "recall_0.1_0.9"),
        ("interpretability", "spearman"),
    ] {
        assert!(
            get(m, v, "pca") > get(m, v, "random") + 0.2,
            "{m} {v}: {best:?}"
        );
    }
    let conv = p.ok(&[
        "sql",
        "SELECT DISTINCT convention FROM results WHERE metric = 'interpretability'",
    ]);
    assert!(conv.contains("target=log_expression"), "{conv}");
}
