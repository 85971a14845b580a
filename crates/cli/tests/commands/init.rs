//! `init`: suggestions for a user's h5ad and the starter pipeline.

use crate::*;

#[test]
fn init_warns_when_labels_name_no_gene_of_the_relationship_sources() {
    // A profile table whose perturbations are guide ids, not gene symbols.
    let p = Project::new();
    let mut csv = String::from("Metadata_guide,Metadata_plate,Metadata_control,f1,f2\n");
    for i in 0..60 {
        let guide = if i % 6 == 0 {
            "non-targeting".to_string()
        } else {
            format!("sg{}_{}", i % 5, i % 3)
        };
        csv += &format!(
            "{guide},P{},{},{}.5,{}\n",
            i % 3,
            (i % 6 == 0) as u8,
            i % 7,
            i % 11
        );
    }
    p.write("mirror/guides.csv", &csv);
    let out = p.ok(&["init", "mirror/guides.csv"]);
    assert!(
        out.contains("perturbation labels of `Metadata_guide` name a gene of the relationship sources (pairs)"),
        "{out}"
    );
    let manifest = std::fs::read_to_string(p.path("manifests/guides.yaml")).unwrap();
    assert!(
        manifest.contains("features: {}") && manifest.contains("perturbation: Metadata_guide"),
        "{manifest}"
    );
}

/// A synthetic screen written as a user's h5ad: `target_gene` (with
/// `non-targeting` controls and some `unassigned` cells), `lane` batches and
/// a barcode column, in 4 batches.
fn user_h5ad(p: &Project, file: &str) {
    use pertbench_data::synthetic::{generate, SyntheticSpec};
    let clusters: Vec<(String, Vec<String>)> = (0..30)
        .map(|c| {
            (
                format!("complex{c}"),
                (0..(3 + c % 3)).map(|k| format!("G{c}_{k}")).collect(),
            )
        })
        .collect();
    let spec = SyntheticSpec {
        seed: 5,
        n_batches: 4,
        n_genes: 90,
        cells_per_perturbation: 12,
        controls_per_batch: 15,
        n_complexes: 8,
        n_unexpressed: 5,
        mean_library_size: 2000.0,
        clusters: "clusters".into(),
    };
    let s = generate(&spec, &clusters).unwrap();
    let n = s.samples.perturbation.len();
    let target: Vec<String> = (0..n)
        .map(|i| {
            if i % 50 == 7 {
                "unassigned".to_string()
            } else {
                s.samples.perturbation[i].clone()
            }
        })
        .collect();
    let lane: Vec<String> = s
        .samples
        .batch
        .iter()
        .map(|b| format!("lane_{b}"))
        .collect();
    let barcode: Vec<String> = (0..n).map(|i| format!("AAAC{i:06}")).collect();
    let mut w = pertbench_data::h5ad_writer::CsrH5adWriter::create(&p.path(file), s.genes.len(), 4)
        .unwrap();
    w.push_block(&s.counts).unwrap();
    w.finish(
        &barcode,
        &[
            ("barcode", &barcode),
            ("lane", &lane),
            ("target_gene", &target),
        ],
        &s.genes,
    )
    .unwrap();
}

#[test]
fn init_suggests_columns_and_writes_a_starter_that_runs() {
    let p = Project::new();
    std::fs::create_dir_all(p.path("mydata")).unwrap();
    user_h5ad(&p, "mydata/My Screen.h5ad");
    let said = p.ok(&["init", "mydata/My Screen.h5ad"]);
    for want in [
        "perturbation  target_gene",
        "a control label `non-targeting`",
        "batch         lane  (4 levels; its name)",
        "control       label non-targeting",
        "drop_labels   unassigned",
        "pertbench --mirror ",
    ] {
        assert!(said.contains(want), "{want}: {said}");
    }
    let manifest = std::fs::read_to_string(p.path("manifests/my_screen.yaml")).unwrap();
    assert!(
        manifest.contains("perturbation: target_gene")
            && manifest.contains("control: {label: non-targeting}")
    );
    assert!(manifest.contains(&format!(
        "sha256: {}",
        sha256(&p.path("mydata/My Screen.h5ad"))
    )));
    let pipeline = std::fs::read_to_string(p.path("pipelines/my_screen.yaml")).unwrap();
    // Four batches: iLISI on the held-out batches.
    assert!(pipeline.contains("- {kind: ilisi}"), "{pipeline}");

    // Nothing is overwritten without --force, and the files are unchanged.
    let again = p.fails(&["init", "mydata/My Screen.h5ad"]);
    assert!(
        again.contains("my_screen.yaml exists; pass --force"),
        "{again}"
    );
    assert_eq!(
        std::fs::read_to_string(p.path("pipelines/my_screen.yaml")).unwrap(),
        pipeline
    );
    p.ok(&["init", "mydata/My Screen.h5ad", "--name", "second"]);
    assert!(p.path("pipelines/second.yaml").is_file());

    // The starter runs as written (recall against this project's pairs).
    p.write(
        "pipelines/my_screen.yaml",
        &pipeline.replace(
            "sources: [corum, humap, reactome, signor, stringdb]",
            "sources: [pairs]",
        ),
    );
    let run = p.ok(&[
        "--mirror",
        "mydata",
        "run",
        "pipelines/my_screen.yaml",
        "--quiet",
    ]);
    assert!(run.contains(" 0 reused"), "{run}");
    for task in pertbench_schema::Task::PAPER.map(|t| t.title()) {
        assert!(run.contains(task), "{task}: {run}");
    }

    // Not an h5ad: the error names the file.
    p.write("mydata/notes.h5ad", "not hdf5");
    let e = p.fails(&["init", "mydata/notes.h5ad"]);
    assert!(
        e.contains("notes.h5ad") && e.contains("not a readable HDF5/h5ad file"),
        "{e}"
    );
}
