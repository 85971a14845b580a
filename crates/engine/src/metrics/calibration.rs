//! Calibration suite (issue 20): every p-value a metric reports, after every
//! post-processing, on null data.
//!
//! A null screen has random Gaussian features (with per-batch offsets and
//! scales when `batch_effect` > 0) and perturbation labels independent of
//! them, so every perturbation is a null one. Each case draws `draws`
//! independent screens (seeded), runs the post-processing and the metric, and
//! pools the p-values it reports. A case passes when
//! - the share of p-values <= alpha (0.05) is at most alpha plus three
//!   binomial standard errors over the independent draws, and
//! - the largest excess of the empirical CDF over the uniform one,
//!   sup_t F(t) - t (too many small p-values), is below the Kolmogorov-Smirnov
//!   1% bound over the draws, 1.63 / sqrt(draws), and the largest deficit is
//!   below the same bound plus the discreteness of the test's p-values.
//!
//! Both bounds count independent draws, not p-values: the units of one screen
//! share their controls, so their p-values are dependent and the bounds are
//! conservative in that direction.

use super::*;
use crate::exec::outputs::IngestOut;
use crate::pipeline::MetricSpec;
use pertbench_data::dataset::DataContext;
use pertbench_data::fetch::FetchOptions;
use pertbench_data::samples::Samples;
use pertbench_kernels::postprocess::{by_name, BatchLayout};
use rand::Rng;

const ALPHA: f64 = 0.05;

#[derive(Clone, Copy, Debug)]
struct NullScreen {
    batches: usize,
    controls_per_batch: usize,
    perturbations: usize,
    /// Samples of a perturbation in each batch it occurs in.
    samples: usize,
    dim: usize,
    /// Each perturbation in one batch (a plate layout), else in every batch.
    confined: bool,
    /// Size of the per-batch offsets of the features.
    batch_offset: f32,
    /// Size of the per-batch log-scales of the features.
    batch_scale: f32,
    /// Samples carry their batch as context.
    contexts: bool,
    /// The target genes of the first this many perturbations are measured
    /// and unexpressed (consistency's `unexpressed` null); 0: no genes.
    unexpressed: usize,
}

fn normal(rng: &mut impl Rng) -> f32 {
    // Box-Muller; u1 in (0, 1].
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn draw(s: NullScreen, seed: u64) -> (IngestOut, Matrix) {
    let mut rng = pertbench_kernels::stats::rng::stream(seed, "calibration", 0);
    let mut samples = Samples::default();
    let mut context = Vec::new();
    let mut values: Vec<f32> = Vec::new();
    for b in 0..s.batches {
        let offset: Vec<f32> = (0..s.dim)
            .map(|_| s.batch_offset * normal(&mut rng))
            .collect();
        let scale: Vec<f32> = (0..s.dim)
            .map(|_| (s.batch_scale * normal(&mut rng)).exp())
            .collect();
        let mut labels: Vec<(String, bool)> = vec![("NT".to_string(), true); s.controls_per_batch];
        for p in 0..s.perturbations {
            if !s.confined || p % s.batches == b {
                labels.extend(std::iter::repeat_n((format!("G{p}"), false), s.samples));
            }
        }
        for (p, c) in labels {
            samples
                .sample_id
                .push(format!("s{}", samples.sample_id.len()));
            samples.perturbation.push(p);
            samples.batch.push(format!("b{b}"));
            samples.is_control.push(c);
            context.push(format!("b{b}"));
            values.extend((0..s.dim).map(|j| offset[j] + scale[j] * normal(&mut rng)));
        }
    }
    if s.contexts {
        samples.context = Some(context);
    }
    let n = samples.len();
    let m = Matrix::from_shape_vec((n, s.dim), values).expect("n x dim values");
    let (genes, expression_mean) = if s.unexpressed > 0 {
        (
            (0..s.perturbations).map(|p| format!("G{p}")).collect(),
            (0..s.perturbations)
                .map(|p| if p < s.unexpressed { 0.0 } else { 1.0 })
                .collect(),
        )
    } else {
        (vec![], vec![])
    };
    let ingest = IngestOut {
        samples,
        source_rows: (0..n).collect(),
        n_file_rows: n,
        counts: None,
        expression_mean,
        genes,
        values: pertbench_data::manifest::Values::Counts,
        streamed_counts: None,
        dropped: Default::default(),
    };
    (ingest, m)
}

/// The p-values of one metric run: named details columns, and the
/// `p_value` of the rows whose variant is listed.
struct PValues {
    details: &'static [&'static str],
    rows: &'static [&'static str],
    /// The statistic takes few values (a fraction of a dozen units, a recall
    /// over a few pairs): ties make its p-values conservative, so only the
    /// excess of small p-values is checked.
    discrete: bool,
}

fn run_metric(
    yaml: &str,
    post: &str,
    ingest: &IngestOut,
    raw: &Matrix,
    data: &DataContext,
    seed: u64,
    want: &PValues,
) -> Vec<f64> {
    let s = &ingest.samples;
    let t = by_name(post)
        .expect("registered")
        .apply(
            raw,
            &BatchLayout {
                batch: &s.batch,
                is_control: &s.is_control,
            },
        )
        .unwrap_or_else(|e| panic!("{post}: {e}"));
    let spec: MetricSpec = serde_yaml_ng::from_str(yaml).expect("metric yaml");
    let all: Vec<usize> = (0..raw.nrows()).collect();
    let ctx = MetricContext {
        ingest,
        matrix: &t.matrix,
        rows: &t.kept_rows,
        seed,
        data,
        split: None,
        // As the DAG gives it: the representation before a fitted transform.
        unprocessed: (post != "raw" && implementation(spec.kind()).refits_postprocessing())
            .then_some(Unprocessed {
                matrix: raw,
                rows: &all,
                postprocessing: post,
            }),
        par: pertbench_kernels::Par::rayon(0),
        work: &pertbench_kernels::runtime::work::Work::new(),
    };
    let out = spec
        .options
        .compute(&spec.label(), &ctx)
        .unwrap_or_else(|e| panic!("{yaml} after {post}: {e}"));
    let mut p = Vec::new();
    if let Some(d) = &out.details {
        for name in want.details {
            let col = d
                .column_by_name(name)
                .unwrap_or_else(|| panic!("{yaml}: no details column {name}"));
            let col = col
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .expect("f64 column");
            p.extend(col.iter().flatten());
        }
    }
    for r in &out.rows {
        if want.rows.contains(&r.variant.as_str()) {
            p.extend(r.p_value);
        }
    }
    p
}

#[derive(Debug)]
struct Verdict {
    n: usize,
    share_below_alpha: f64,
    /// sup_t F(t) - t: too many small p-values.
    excess: f64,
    /// sup_t t - F(t): too few.
    deficit: f64,
}

fn verdict(mut p: Vec<f64>) -> Verdict {
    p.sort_by(f64::total_cmp);
    let n = p.len() as f64;
    let (mut excess, mut deficit) = (0.0f64, 0.0f64);
    for (i, v) in p.iter().enumerate() {
        // F jumps to (i+1)/n at v (ties: the last of a run counts).
        excess = excess.max((i + 1) as f64 / n - v);
        deficit = deficit.max(v - i as f64 / n);
    }
    Verdict {
        n: p.len(),
        share_below_alpha: p.iter().filter(|v| **v <= ALPHA).count() as f64 / n,
        excess,
        deficit,
    }
}

/// Runs `draws` null screens and checks the pooled p-values; returns a
/// line for the report, or the failure.
#[allow(clippy::too_many_arguments)]
fn case(
    label: &str,
    screen: NullScreen,
    post: &str,
    yaml: &str,
    want: &PValues,
    draws: u64,
    data: &DataContext,
    granularity: f64,
) -> std::result::Result<String, String> {
    case_of(
        label,
        &|seed| draw(screen, seed),
        post,
        yaml,
        want,
        draws,
        data,
        granularity,
    )
}

/// [`case`] on the screens `draw_screen(seed)` gives.
#[allow(clippy::too_many_arguments)]
fn case_of(
    label: &str,
    draw_screen: &dyn Fn(u64) -> (IngestOut, Matrix),
    post: &str,
    yaml: &str,
    want: &PValues,
    draws: u64,
    data: &DataContext,
    granularity: f64,
) -> std::result::Result<String, String> {
    let mut p = Vec::new();
    for d in 0..draws {
        let (ingest, raw) = draw_screen(1000 + d);
        p.extend(run_metric(yaml, post, &ingest, &raw, data, d, want));
    }
    let v = verdict(p);
    let k = draws as f64;
    let share_bound = ALPHA + 3.0 * (ALPHA * (1.0 - ALPHA) / k).sqrt();
    let ks = 1.63 / k.sqrt();
    let line = format!(
        "{label:<40} {post:<13} n={:<5} share(p<=0.05)={:.3} (<= {share_bound:.3})  excess={:.3} deficit={:.3} (<= {ks:.3})",
        v.n, v.share_below_alpha, v.excess, v.deficit
    );
    if v.n == 0 {
        return Err(format!("{line}: no p-value"));
    }
    if v.share_below_alpha > share_bound
        || v.excess > ks
        || (!want.discrete && v.deficit > ks + granularity)
    {
        Err(line)
    } else {
        Ok(line)
    }
}

/// No manifests and no network: metrics that read no dataset file.
fn no_data() -> DataContext {
    super::tests::data()
}

const POSTS: [&str; 4] = ["raw", "center", "center_scale", "tvn"];

fn report(lines: Vec<std::result::Result<String, String>>) {
    let mut failed = Vec::new();
    for l in &lines {
        match l {
            Ok(s) => eprintln!("ok   {s}"),
            Err(s) => {
                eprintln!("FAIL {s}");
                failed.push(s.clone());
            }
        }
    }
    assert!(failed.is_empty(), "miscalibrated:\n{}", failed.join("\n"));
}

/// The screen with the batch effects `post` removes, so that no batch
/// effect is left for a test to find: none for raw, offsets for center,
/// offsets and scales for center_scale, and for tvn (efaar's, which whitens
/// each batch's covariance but centres globally) scales.
fn with_effects_removed_by(post: &str, s: NullScreen) -> NullScreen {
    let (offset, scale) = match post {
        "raw" => (0.0, 0.0),
        "center" => (s.batch_offset, 0.0),
        "center_scale" => (s.batch_offset, s.batch_scale),
        "tvn" => (0.0, s.batch_scale),
        other => panic!("no null screen for post-processing {other}"),
    };
    NullScreen {
        batch_offset: offset,
        batch_scale: scale,
        ..s
    }
}

/// Screens with few controls per batch (where a transform fitted on them is
/// furthest from the truth) and with many, plates and spread layouts.
fn screens() -> Vec<(&'static str, NullScreen)> {
    let base = NullScreen {
        batches: 3,
        controls_per_batch: 8,
        perturbations: 12,
        samples: 3,
        dim: 32,
        confined: true,
        batch_offset: 1.0,
        batch_scale: 0.5,
        contexts: false,
        unexpressed: 0,
    };
    vec![
        ("plates, 8 controls, 32 dims", base),
        (
            "spread, 8 controls, 32 dims",
            NullScreen {
                confined: false,
                samples: 2,
                ..base
            },
        ),
        (
            "plates, 40 controls, 8 dims",
            NullScreen {
                controls_per_batch: 40,
                dim: 8,
                ..base
            },
        ),
    ]
}

#[test]
fn distribution_pvalues_are_uniform_on_null_screens() {
    let want = PValues {
        details: &["p_energy", "p_mmd2"],
        rows: &[],
        discrete: false,
    };
    report(cases_over(
        screens(),
        "{kind: distribution, n_permutations: 199, n_bootstrap: 10}",
        &want,
        100,
        &no_data(),
        1.0 / 200.0,
    ));
}

#[test]
fn consistency_pvalues_are_uniform_on_null_screens() {
    let want = PValues {
        details: &["pvalue"],
        rows: &[],
        discrete: false,
    };
    report(cases_over(
        screens(),
        "{kind: consistency, null: permutation, n_permutations: 200, n_bootstrap: 10}",
        &want,
        100,
        &no_data(),
        1.0 / 200.0,
    ));
}

/// A screen whose samples carry their batch as context, every perturbation
/// in every batch (transfer and rewiring compare contexts).
fn context_screens() -> Vec<(&'static str, NullScreen)> {
    let base = NullScreen {
        batches: 3,
        controls_per_batch: 8,
        perturbations: 12,
        samples: 4,
        dim: 16,
        confined: false,
        batch_offset: 1.0,
        batch_scale: 0.5,
        contexts: true,
        unexpressed: 0,
    };
    vec![
        ("contexts, 8 controls, 16 dims", base),
        (
            "contexts, 40 controls, 6 dims",
            NullScreen {
                controls_per_batch: 40,
                dim: 6,
                ..base
            },
        ),
    ]
}

fn cases_over(
    screens: Vec<(&'static str, NullScreen)>,
    yaml: &str,
    want: &PValues,
    draws: u64,
    data: &DataContext,
    granularity: f64,
) -> Vec<std::result::Result<String, String>> {
    let mut lines = Vec::new();
    for (label, screen) in screens {
        for post in POSTS {
            lines.push(case(
                label,
                with_effects_removed_by(post, screen),
                post,
                yaml,
                want,
                draws,
                data,
                granularity,
            ));
        }
    }
    lines
}

#[test]
fn consistency_null_drawn_across_plates_is_not_valid() {
    // METRICS.md's permutation null (`null_strata: none`) draws random sets
    // from every plate; after a per-plate centre-scale fitted on 8 controls
    // a plate's samples are alike, and null perturbations beat it.
    let (label, screen) = screens()[0];
    let pooled = case(
        label,
        with_effects_removed_by("center_scale", screen),
        "center_scale",
        "{kind: consistency, null: permutation, null_strata: none, n_permutations: 200, n_bootstrap: 10}",
        &PValues {
            details: &["pvalue"],
            rows: &[],
            discrete: false,
        },
        100,
        &no_data(),
        1.0 / 200.0,
    );
    eprintln!("{pooled:?}");
    assert!(pooled.is_err(), "pooled draws are not valid: {pooled:?}");
}

#[test]
fn consistency_unexpressed_null_pvalues_are_valid_and_efaars_are_not() {
    // Five of twelve perturbations unexpressed: their avgsims are the null
    // of the other seven. efaar's p = #(null >= s) / |null| is 0 for a null
    // perturbation above all five, which happens with probability 1/6.
    let screen = NullScreen {
        unexpressed: 5,
        ..screens()[0].1
    };
    let want = PValues {
        details: &["pvalue"],
        rows: &[],
        discrete: true,
    };
    let yaml = "{kind: consistency, null: unexpressed, n_permutations: 20, n_bootstrap: 10}";
    report(cases_over(
        vec![("plates, 5 unexpressed of 12", screen)],
        yaml,
        &want,
        100,
        &no_data(),
        0.0,
    ));
    let efaar = case(
        "plates, 5 unexpressed of 12",
        with_effects_removed_by("center", screen),
        "center",
        "{kind: consistency, null: unexpressed, pvalue: efaar, n_permutations: 20, n_bootstrap: 10}",
        &want,
        100,
        &no_data(),
        0.0,
    );
    eprintln!("{efaar:?}");
    assert!(efaar.is_err(), "efaar's p-value is not valid: {efaar:?}");
}

#[test]
fn consistency_label_shuffle_pvalues_are_uniform_on_null_screens() {
    // One p-value per draw and row: the label-shuffle null of the scores.
    let yaml = "{kind: consistency, null: permutation, n_permutations: 100, n_bootstrap: 10}";
    let continuous = PValues {
        details: &[],
        rows: &["mean_avgsim"],
        discrete: false,
    };
    let fractions = PValues {
        details: &[],
        rows: &["fraction_significant", "fraction_significant_bh"],
        discrete: true,
    };
    let mut lines = cases_over(screens(), yaml, &continuous, 60, &no_data(), 1.0 / 100.0);
    lines.extend(cases_over(
        screens(),
        yaml,
        &fractions,
        60,
        &no_data(),
        1.0 / 100.0,
    ));
    report(lines);
}

#[test]
fn transfer_pvalues_are_uniform_on_null_screens() {
    let want = PValues {
        details: &["pvalue"],
        rows: &[],
        discrete: false,
    };
    report(cases_over(
        context_screens(),
        "{kind: transfer, n_permutations: 100, n_bootstrap: 10}",
        &want,
        40,
        &no_data(),
        1.0 / 100.0,
    ));
}

#[test]
fn rewiring_pvalues_are_uniform_on_null_screens() {
    let want = PValues {
        details: &["pvalue"],
        rows: &[],
        discrete: false,
    };
    report(cases_over(
        context_screens(),
        "{kind: rewiring, entity: perturbation, k: 3, n_permutations: 100, n_bootstrap: 10}",
        &want,
        40,
        &no_data(),
        1.0 / 100.0,
    ));
}

/// A relationship source of random pairs among the screens' perturbations,
/// served from a mirror directory as a user's own file would be.
fn random_pairs(dir: &std::path::Path, perturbations: usize) -> DataContext {
    let mut rng = pertbench_kernels::stats::rng::stream(7, "calibration-pairs", 0);
    let mut text = String::from("entity1,entity2\n");
    for _ in 0..60 {
        let a = rng.random_range(0..perturbations);
        let b = rng.random_range(0..perturbations);
        text += &format!("G{a},G{b}\n");
    }
    let mirror = dir.join("mirror");
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(mirror.join("nullpairs.csv"), &text).unwrap();
    let sha = pertbench_data::fetch::sha256_file(&mirror.join("nullpairs.csv")).unwrap();
    std::fs::write(
        manifests.join("nullpairs.yaml"),
        format!("name: nullpairs\nformat: relationship_pairs\nsource: {{file: nullpairs.csv}}\nsha256: {sha}\n"),
    )
    .unwrap();
    DataContext {
        manifest_dirs: vec![manifests],
        fetch: FetchOptions {
            mirrors: vec![mirror],
            data_dir: dir.join("data"),
            allow_network: false,
            allow_unpinned: false,
        },
    }
}

#[test]
fn recall_pvalues_are_uniform_on_null_screens() {
    let dir = tempfile::tempdir().unwrap();
    let screen = NullScreen {
        perturbations: 30,
        ..screens()[0].1
    };
    let data = random_pairs(dir.path(), screen.perturbations);
    let want = PValues {
        details: &[],
        rows: &["recall_0.05_0.95", "recall_0.1_0.9", "upper_only_0.95"],
        discrete: true,
    };
    report(cases_over(
        vec![("plates, 30 perturbations, 60 pairs", screen)],
        "{kind: relationship_recall, sources: [nullpairs], n_permutations: 100, n_bootstrap: 10}",
        &want,
        60,
        &data,
        1.0 / 100.0,
    ));
}

/// `../shared` (PERTBENCH_SHARED, else beside the repository), or None
/// (skip, said) unless PERTBENCH_REQUIRE_SHARED=1, where it fails.
pub(super) fn shared() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("PERTBENCH_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
        });
    if dir.join("data").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("PERTBENCH_REQUIRE_SHARED").as_deref() != Ok("1"),
        "PERTBENCH_REQUIRE_SHARED=1 but {} is missing",
        dir.display()
    );
    eprintln!(
        "skipping: {} not found (set PERTBENCH_SHARED)",
        dir.display()
    );
    None
}

/// The Papalexi screen's control cells (non-targeting guides) in a PCA of
/// the whole screen (20 components, as its representation node computes
/// it), with their batches (replicates).
fn papalexi_controls(shared: &std::path::Path) -> (pertbench_data::samples::Samples, Matrix) {
    let scratch = tempfile::tempdir().unwrap();
    let data = DataContext {
        manifest_dirs: vec![
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data_manifests")
        ],
        fetch: FetchOptions {
            mirrors: vec![shared.join("data"), shared.join("mirror")],
            data_dir: scratch.path().to_path_buf(),
            allow_network: false,
            allow_unpinned: false,
        },
    };
    let d = pertbench_data::dataset::load("papalexi2021", &data).expect("Papalexi loads");
    let counts = d.counts.expect("Papalexi has counts");
    let ingest = IngestOut {
        expression_mean: IngestOut::expression_column_means(&counts, d.values),
        samples: d.samples,
        source_rows: d.source_rows,
        n_file_rows: d.n_file_rows,
        counts: Some(counts),
        genes: d.genes,
        values: d.values,
        dropped: d.dropped,
        streamed_counts: None,
    };
    let spec: crate::pipeline::RepresentationSpec =
        serde_yaml_ng::from_str("{name: pca, kind: pca, n_components: 20}").unwrap();
    let rep = crate::representations::implementation(spec.kind)
        .compute(
            &spec,
            &crate::representations::RepContext {
                dataset: "papalexi2021",
                ingest: &ingest,
                base: None,
                seed: 0,
                data: &data,
                par: pertbench_kernels::Par::rayon(0),
                work: &pertbench_kernels::runtime::work::Work::new(),
            },
        )
        .expect("PCA");
    let s = &ingest.samples;
    let controls: Vec<usize> = (0..rep.rows.len())
        .filter(|&i| s.is_control[rep.rows[i]])
        .collect();
    let m = Matrix::from_shape_fn((controls.len(), rep.matrix.ncols()), |(i, j)| {
        rep.matrix[(controls[i], j)]
    });
    (
        s.select(&controls.iter().map(|&i| rep.rows[i]).collect::<Vec<_>>()),
        m,
    )
}

/// A real control-only split: in each replicate, a seeded 100 of the
/// controls stay controls and 12 x 10 others become 12 fake perturbations
/// (each in every replicate); the rest are left out.
fn control_split(
    controls: &(pertbench_data::samples::Samples, Matrix),
    seed: u64,
) -> (IngestOut, Matrix) {
    use rand::seq::SliceRandom;
    let (s, m) = controls;
    let mut rng = pertbench_kernels::stats::rng::stream(seed, "calibration-control-split", 0);
    let mut by_batch: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, b) in s.batch.iter().enumerate() {
        by_batch.entry(b.as_str()).or_default().push(i);
    }
    let mut samples = Samples::default();
    let mut rows = Vec::new();
    for (b, mut cells) in by_batch {
        cells.shuffle(&mut rng);
        for (k, &i) in cells.iter().take(100 + 12 * 10).enumerate() {
            let control = k < 100;
            samples.sample_id.push(s.sample_id[i].clone());
            samples.perturbation.push(if control {
                "NT".into()
            } else {
                format!("F{}", (k - 100) / 10)
            });
            samples.batch.push(b.to_string());
            samples.is_control.push(control);
            rows.push(i);
        }
    }
    let n = rows.len();
    let raw = Matrix::from_shape_fn((n, m.ncols()), |(i, j)| m[(rows[i], j)]);
    let ingest = IngestOut {
        samples,
        source_rows: (0..n).collect(),
        n_file_rows: n,
        counts: None,
        expression_mean: vec![],
        genes: vec![],
        values: pertbench_data::manifest::Values::Counts,
        streamed_counts: None,
        dropped: Default::default(),
    };
    (ingest, raw)
}

#[test]
fn pvalues_are_uniform_on_real_control_only_splits() {
    // Papalexi's non-targeting cells, relabelled at random into controls
    // and fake perturbations: real noise, batch effects and tails, and no
    // perturbation effect.
    let Some(shared) = shared() else { return };
    let controls = papalexi_controls(&shared);
    let label = "Papalexi controls, 12 fake x 30";
    let mut lines = Vec::new();
    for (yaml, want, draws) in [
        (
            "{kind: distribution, n_permutations: 99, n_bootstrap: 10}",
            PValues {
                details: &["p_energy", "p_mmd2"],
                rows: &[],
                discrete: false,
            },
            30,
        ),
        (
            "{kind: consistency, null: permutation, n_permutations: 200, n_bootstrap: 10}",
            PValues {
                details: &["pvalue"],
                rows: &[],
                discrete: false,
            },
            30,
        ),
    ] {
        for post in POSTS {
            lines.push(case_of(
                label,
                &|seed| control_split(&controls, seed),
                post,
                yaml,
                &want,
                draws,
                &no_data(),
                1.0 / 100.0,
            ));
        }
    }
    report(lines);
}

#[test]
fn mp_value_pvalues_are_uniform_on_null_screens() {
    // One p-value per perturbation and draw: its relabellings with the
    // controls (cytominer-eval's draws, pertbench's (1 + #) / (1 + n)), on
    // features no transform was fitted to.
    let want = PValues {
        details: &["p_value"],
        rows: &[],
        discrete: false,
    };
    let yaml = "{kind: mp_value, n_permutations: 50}";
    let lines: Vec<_> = screens()
        .into_iter()
        .map(|(label, screen)| {
            case(
                label,
                with_effects_removed_by("raw", screen),
                "raw",
                yaml,
                &want,
                40,
                &no_data(),
                1.0 / 50.0,
            )
        })
        .collect();
    report(lines);
}

#[test]
fn mp_value_after_a_control_fitted_postprocessing_is_not_valid() {
    // A per-plate centre-scale fitted on 8 controls shrinks them towards
    // their mean: relabelling a perturbation's samples with them is no
    // longer a null, and null perturbations look active (explain mp_value).
    let (label, screen) = screens()[0];
    let fitted = case(
        label,
        with_effects_removed_by("center_scale", screen),
        "center_scale",
        "{kind: mp_value, n_permutations: 50}",
        &PValues {
            details: &["p_value"],
            rows: &[],
            discrete: false,
        },
        40,
        &no_data(),
        1.0 / 50.0,
    );
    eprintln!("{fitted:?}");
    assert!(
        fitted.is_err(),
        "expected anti-conservative p-values: {fitted:?}"
    );
}

#[test]
fn distance_pvalues_are_uniform_on_null_screens() {
    // pertpy's DistanceTest on edistance (its precomputed statistic) and on
    // a pseudobulk distance recomputed per relabelling, with both p-value
    // rules, on features no transform was fitted to.
    let want = PValues {
        details: &["p_value"],
        rows: &[],
        discrete: false,
    };
    let mut lines = Vec::new();
    for yaml in [
        "{kind: distance, within: include_self, n_permutations: 50}",
        "{kind: distance, metric: mse, n_permutations: 50, pvalue: permutation}",
    ] {
        for (label, screen) in screens() {
            lines.push(case(
                label,
                with_effects_removed_by("raw", screen),
                "raw",
                yaml,
                &want,
                40,
                &no_data(),
                1.0 / 50.0,
            ));
        }
    }
    report(lines);
}

#[test]
fn distance_test_after_a_control_fitted_postprocessing_is_not_valid() {
    // As for mp_value: after a per-plate centre-scale fitted on 8 controls
    // the relabelled samples are not exchangeable with the controls
    // (explain distance).
    let (label, screen) = screens()[0];
    let fitted = case(
        label,
        with_effects_removed_by("center_scale", screen),
        "center_scale",
        "{kind: distance, within: include_self, n_permutations: 50}",
        &PValues {
            details: &["p_value"],
            rows: &[],
            discrete: false,
        },
        40,
        &no_data(),
        1.0 / 50.0,
    );
    eprintln!("{fitted:?}");
    assert!(
        fitted.is_err(),
        "expected anti-conservative p-values: {fitted:?}"
    );
}
