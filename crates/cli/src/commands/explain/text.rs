//! The text of `pertbench explain`: a metric kind, a result variant or a
//! post-processing, its options with their defaults, the public conventions
//! they match, and the references. The texts live with the code they
//! describe (each metric's `Explanation` and typed options, each
//! post-processing's description); this module finds and formats them.

use pertbench_engine::cell_eval::metric_set::{MetricName, Profile, METRICS};
use pertbench_engine::metrics::{documents_variant, implementation, Explanation};
use pertbench_engine::pipeline::MetricKind;
use pertbench_kernels::postprocess;
use pertbench_kernels::tasks::cell_eval::score::Best;

/// What a name given to `pertbench explain` refers to.
pub enum Topic {
    Metric(MetricKind),
    PostProcessing(&'static str, &'static str),
    /// The fields of a dataset manifest, with an example per format.
    Manifest,
    /// `pertbench cell-eval`'s metric set (`cell-eval`, or one metric).
    CellEval(Option<&'static MetricName>),
}

/// The topics `name` refers to: a metric kind (or `linear_ridge`), a
/// post-processing, or a result variant (every kind that writes it). An
/// unknown name is an error listing what is known, nearest first.
pub fn lookup(name: &str) -> Result<Vec<Topic>, String> {
    let as_given = name.trim();
    let name = as_given.to_ascii_lowercase();
    if name == "manifest" {
        return Ok(vec![Topic::Manifest]);
    }
    if name == "linear_ridge" {
        return Ok(vec![Topic::Metric(MetricKind::LinearProbe)]);
    }
    if name == "cell-eval" || name == "cell_eval" {
        return Ok(vec![Topic::CellEval(None)]);
    }

    if let Some(kind) = MetricKind::ALL.iter().find(|k| k.name() == name) {
        return Ok(vec![Topic::Metric(*kind)]);
    }
    if let Some(p) = postprocess::by_name(&name) {
        return Ok(vec![Topic::PostProcessing(p.name(), p.description())]);
    }
    let mut by_variant: Vec<Topic> = MetricKind::ALL
        .iter()
        .filter(|k| documents_variant(**k, &name) || documents_variant(**k, as_given))
        .map(|k| Topic::Metric(*k))
        .collect();
    // A cell-eval metric (some share a name with a `prediction` variant).
    if let Some(m) = METRICS.iter().find(|m| m.name.to_ascii_lowercase() == name) {
        by_variant.push(Topic::CellEval(Some(m)));
    }
    if !by_variant.is_empty() {
        return Ok(by_variant);
    }
    let mut known: Vec<&str> = MetricKind::ALL.iter().map(|k| k.name()).collect();
    known.extend(postprocess::names());
    known.push("manifest");
    known.push("cell-eval");
    known.sort_by_key(|k| (edit_distance(k, &name), *k));
    let hint = match known.first() {
        Some(k) if edit_distance(k, &name) <= 2 => format!(" (did you mean `{k}`?)"),
        _ => String::new(),
    };
    Err(format!(
        "no metric, variant or post-processing is called `{name}`{hint}; known: {}",
        known.join(", ")
    ))
}

/// Levenshtein distance, for the nearest names of a typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// `text` wrapped at `width` columns, each line indented by `indent`.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.chars().count() + 1 + word.chars().count() > width {
            out += &format!("{pad}{line}\n");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line += word;
    }
    if !line.is_empty() {
        out += &format!("{pad}{line}\n");
    }
    out
}

const WIDTH: usize = 80;

/// Two columns: names padded to the longest, text wrapped after them.
fn table<N: AsRef<str>, T: AsRef<str>>(rows: &[(N, T)]) -> String {
    let w = rows
        .iter()
        .map(|r| r.0.as_ref().chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (name, text) in rows {
        let name = name.as_ref();
        let wrapped = wrap(text.as_ref(), 2 + w + 2, WIDTH);
        let first = wrapped.trim_start();
        out += &format!("  {name}{}  {first}", " ".repeat(w - name.chars().count()));
    }
    out
}

/// The full text of one metric kind.
pub fn render_metric(kind: MetricKind) -> String {
    let m = implementation(kind);
    let e: &Explanation = m.explanation();
    let task = m.task().title();
    let mut s = if let Some(number) = m.task().number() {
        let what = task.split_once(' ').map_or(task, |(_, what)| what);
        format!("{} (Task {number}, {what})\n", kind.name())
    } else {
        format!(
            "{} (beyond paper 004's six tasks; results task `{task}`)\n",
            kind.name()
        )
    };
    s += &wrap(e.summary, 2, WIDTH);
    s += "\nDefinition\n";
    s += &wrap(e.definition, 2, WIDTH);
    s += "\nResult rows (`variant`)\n";
    s += &table(e.variants);
    s += "\nOptions (pipeline fields; default in brackets)\n";
    let fields = kind.fields();
    if fields.is_empty() {
        s += "  none\n";
    }
    let opts: Vec<(&str, String)> = fields
        .iter()
        .map(|f| (f.name, format!("[{}] {}", f.default, f.text())))
        .collect();
    s += &table(&opts);
    s += "  Every kind also takes `name` (the rows' metric name; default the kind).\n";
    s += "\nConventions\n";
    s += &wrap(e.conventions, 2, WIDTH);
    s += "\nReferences\n";
    for r in e.references {
        let w = wrap(r, 4, WIDTH);
        s += &format!("  - {}", w.trim_start());
    }
    s
}

/// The full text of a topic.
pub fn render(topic: &Topic) -> String {
    match topic {
        Topic::Metric(kind) => render_metric(*kind),
        Topic::PostProcessing(name, description) => {
            let mut s = format!("{name} (post-processing)\n");
            s += &wrap(description, 2, WIDTH);
            s += "\nReferences\n  - METRICS.md, Post-processing.\n  - Paper 004, Appendix C.1 (centering, center scaling, TVN).\n";
            s
        }
        Topic::Manifest => pertbench_data::manifest_doc::render(WIDTH),
        Topic::CellEval(metric) => render_cell_eval(*metric),
    }
}

/// `pertbench cell-eval`'s metrics (all, or one), with their definitions,
/// how the VCC score normalises each, and the profiles holding it.
fn render_cell_eval(only: Option<&'static MetricName>) -> String {
    let best = |m: &MetricName| match m.best {
        Some(Best::Zero) => "Scored 1 - prediction / baseline (best 0)",
        Some(Best::One) => "Scored (prediction - baseline) / (1 - baseline) (best 1)",
        None => "Not scored",
    };
    let profiles = |m: &MetricName| -> String {
        Profile::ALL
            .iter()
            .filter(|p| p.metrics().iter().any(|x| x.name == m.name))
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = match only {
        Some(m) => format!(
            "{} (pertbench cell-eval; cell-eval 0.8.1's metric)\n",
            m.name
        ),
        None => "cell-eval's metric set (pertbench cell-eval)\n".to_string(),
    };
    s += &wrap(
        "A predicted h5ad scored against the real one as cell-eval 0.8.1 (the Virtual Cell Challenge's scorer) scores it: per perturbation, then the mean over perturbations (with a bootstrap interval); the VCC score normalises each mean against a baseline prediction's (negative and NaN scores become 0) and averages them. DE tables are pdex 0.2's (Mann-Whitney U with tie and continuity correction, Benjamini-Hochberg per perturbation, log2 fold changes of expm1(mean(log1p)) pseudobulks; `--convention cell_eval_0_5`: cell-eval 0.5.45 with pdex 0.1.24 as they scored the challenge: BH over all tests, fold changes clipped at 20, pseudobulks as plain means when pdex 0.1's guess (mean cell sum >= 15) calls the data linear, scipy's exact test for groups of at most 8 cells without ties, discrimination on absolute deltas, pr_auc by trapezoids). Significant: FDR < 0.05 in float32, as cell-eval compares it.",
        2,
        WIDTH,
    );
    let rows: Vec<(&str, String)> = METRICS
        .iter()
        .filter(|m| only.is_none_or(|o| o.name == m.name))
        .map(|m| {
            (
                m.name,
                format!("{}. {}; profiles: {}.", m.definition, best(m), profiles(m)),
            )
        })
        .collect();
    s += "\nMetrics\n";
    s += &table(&rows);
    s += "\nReferences\n  - cell-eval (Arc Institute), metrics/_impl.py, _score.py; pdex 0.2.5.\n  - REFERENCE_TOOLS.md section 2; papers 001 to 003 (../shared/papers).\n";
    s
}

/// Every metric kind and post-processing with its one-line summary.
pub fn index() -> String {
    let mut s = String::from("Metrics (pertbench explain <kind> | <variant>)\n");
    let rows: Vec<(&str, &str)> = MetricKind::ALL
        .iter()
        .map(|k| (k.name(), implementation(*k).explanation().summary))
        .collect();
    s += &table(&rows);
    s += "\nPost-processings (pertbench explain <name>)\n";
    let pps: Vec<(&str, &str)> = postprocess::registry()
        .iter()
        .map(|p| {
            // The first sentence.
            let d = p.description();
            let first = d.find(". ").map_or(d, |i| &d[..=i]);
            (p.name(), first)
        })
        .collect();
    s += &table(&pps);
    s += "\nDatasets (pertbench explain manifest)\n";
    s += &table(&[(
        "manifest",
        "every field of a dataset manifest, with an example per format",
    )]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_kinds_variants_and_postprocessings() {
        let kinds = |name: &str| -> Vec<&'static str> {
            lookup(name)
                .unwrap()
                .iter()
                .map(|t| match t {
                    Topic::Metric(k) => k.name(),
                    Topic::PostProcessing(n, _) => n,
                    Topic::Manifest => "manifest",
                    Topic::CellEval(m) => m.map_or("cell-eval", |m| m.name),
                })
                .collect()
        };
        assert_eq!(kinds("knn"), ["knn"]);
        assert_eq!(kinds("Manifest"), ["manifest"]);
        assert_eq!(kinds("linear_ridge"), ["linear_probe"]);
        assert_eq!(kinds("TVN"), ["tvn"]);
        // top1 is written by the probe and by kNN.
        assert_eq!(kinds("top1"), ["linear_probe", "knn"]);
        assert_eq!(kinds("structural_integrity"), ["interpretability"]);
        assert_eq!(kinds("cell-eval"), ["cell-eval"]);
        // A cell-eval metric: the `vcc` kind's rows, and its definition.
        assert_eq!(kinds("overlap_at_N"), ["vcc", "overlap_at_N"]);
        assert_eq!(
            kinds("discrimination_score_l1"),
            ["vcc", "discrimination_score_l1"]
        );
        assert_eq!(kinds("from_baseline_mae"), ["vcc"]);
        assert_eq!(kinds("vcc"), ["vcc"]);
        let all = render(&lookup("cell-eval").unwrap()[0]);
        for m in METRICS {
            assert!(all.contains(m.name), "{}", m.name);
        }
        assert!(all.lines().all(|l| l.chars().count() <= WIDTH), "{all}");
        let mae = lookup("mae").unwrap();
        let text = render(mae.last().unwrap())
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            text.contains("profiles: full, minimal, vcc, anndata."),
            "{text}"
        );
        assert_eq!(kinds("mse").last(), Some(&"mse"));
        assert!(kinds("mse").contains(&"prediction"));
        assert_eq!(kinds("recall_0.05_0.95"), ["relationship_recall"]);
        assert_eq!(kinds("fraction_significant_lopo_ridge"), ["transfer"]);
        // Recall's variants, as the kernel names them.
        use pertbench_kernels::tasks::recall::Tails;
        for t in [
            Tails::Two { lo: 0.1, hi: 0.9 },
            Tails::UpperOnly { hi: 0.95 },
        ] {
            assert_eq!(kinds(&t.variant()), ["relationship_recall"]);
        }
        let e = lookup("kn").err().unwrap();
        assert!(
            e.contains("`kn` (did you mean `knn`?)") && e.contains("known: knn,"),
            "{e}"
        );
        assert!(!lookup("zzzzzzzz").err().unwrap().contains("did you mean"));
    }

    #[test]
    fn rendered_text_has_every_section_and_wraps() {
        let s = render_metric(MetricKind::Ilisi);
        for want in [
            "ilisi (Task 1, batch mixing)",
            "Definition",
            "Result rows",
            "ilisi_scaled",
            "Options",
            "perplexity",
            "[30]",
            "Conventions",
            "harmonypy",
            "References",
        ] {
            assert!(s.contains(want), "{want}: {s}");
        }
        assert!(s.lines().all(|l| l.chars().count() <= WIDTH), "{s}");
        let idx = index();
        for k in MetricKind::ALL {
            assert!(idx.contains(k.name()));
        }
        assert!(
            idx.contains("center_scale  Per batch, centre and scale on the batch's controls.\n"),
            "{idx}"
        );
        let pp = render(&lookup("center").unwrap()[0]);
        assert!(pp.contains("mean of that batch's controls"), "{pp}");
    }

    #[test]
    fn wrap_keeps_words_whole() {
        assert_eq!(wrap("aaa bbb ccc", 2, 9), "  aaa bbb\n  ccc\n");
        assert_eq!(wrap("", 2, 9), "");
    }
}
