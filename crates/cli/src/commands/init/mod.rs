//! `pertbench init <h5ad>`: inspect a user's h5ad, say which obs columns
//! look like the perturbation, batch, control and context columns (and
//! why), and write a dataset manifest and a commented starter pipeline.

mod starter;

use anyhow::{bail, Context, Result};
use pertbench_data::inspect::{self, ControlGuess, H5adProfile, Inspected, Suggestion};
use starter::StarterInput;
use std::path::PathBuf;

pub struct InitOptions {
    pub h5ad: PathBuf,
    pub name: Option<String>,
    pub force: bool,
    /// Where the manifest goes (the first manifest directory).
    pub manifest_dir: PathBuf,
    pub pipeline_dir: PathBuf,
    /// Where the relationship sources are found (their genes are checked
    /// against the perturbation labels).
    pub data: pertbench_data::dataset::DataContext,
}

/// The genes of every relationship source (`format: relationship_pairs`
/// manifests) that can be had (a mirror, the data directory, or the network
/// when allowed), with the sources' names; sources that cannot are left out.
fn relationship_genes(
    data: &pertbench_data::dataset::DataContext,
) -> (std::collections::HashSet<String>, Vec<String>) {
    let mut genes = std::collections::HashSet::new();
    let mut names = Vec::new();
    for (_, m) in pertbench_data::manifest::list(&data.manifest_dirs) {
        if m.format != pertbench_data::manifest::Format::RelationshipPairs {
            continue;
        }
        let Ok(f) = pertbench_data::fetch::fetch(&m, &data.fetch) else {
            continue;
        };
        let Ok(pairs) = pertbench_data::relationships::read_pairs(&f.path) else {
            continue;
        };
        for (a, b) in pairs {
            genes.insert(a);
            genes.insert(b);
        }
        names.push(m.name.clone());
    }
    (genes, names)
}

/// A value for the column listing: at most 24 characters.
fn short(s: &str) -> String {
    if s.chars().count() > 24 {
        format!("{}...", s.chars().take(21).collect::<String>())
    } else {
        s.to_string()
    }
}

fn describe(p: &H5adProfile) -> String {
    let mut s = if p.n_features > 0 {
        format!(
            "{} rows x {} numeric feature columns\n\ncolumns:\n",
            p.n_obs, p.n_features
        )
    } else {
        format!(
            "{} cells x {} genes\n\nsample columns:\n",
            p.n_obs, p.n_vars
        )
    };
    let w = p
        .columns
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    for c in &p.columns {
        let top: Vec<String> = c
            .top
            .iter()
            .take(3)
            .map(|(v, n)| format!("{} ({n})", short(v)))
            .collect();
        s += &format!(
            "  {:<w$}  {:<6} {:>7} levels{}  {}\n",
            c.name,
            c.kind,
            c.n_levels,
            if c.n_missing > 0 {
                format!(", {} missing", c.n_missing)
            } else {
                String::new()
            },
            top.join(", ")
        );
    }
    if p.columns.is_empty() {
        s += "  (none)\n";
    }
    if !p.count_sources.is_empty() {
        let m: Vec<String> = p
            .count_sources
            .iter()
            .map(|(c, counts)| {
                format!(
                    "{c} ({})",
                    if *counts {
                        "whole counts"
                    } else {
                        "not counts"
                    }
                )
            })
            .collect();
        s += &format!("matrices: {}\n", m.join(", "));
    }
    if !p.obsm.is_empty() {
        let keys: Vec<String> = p
            .obsm
            .iter()
            .map(|(k, d)| format!("{k} ({d} columns)"))
            .collect();
        s += &format!("obsm: {}\n", keys.join(", "));
    }
    s
}

/// Per-row control flags under the suggested rule, to find batches
/// without controls.
fn control_flags(h: &Inspected, s: &Suggestion) -> Result<Option<Vec<bool>>> {
    let truthy = |t: &str| matches!(t, "true" | "True" | "TRUE" | "1");
    Ok(match &s.control {
        Some((ControlGuess::Column(c), _)) => h.column(c)?.map(|col| {
            (0..col.len())
                .map(|i| col.text(i).is_some_and(|t| truthy(&t)))
                .collect()
        }),
        Some((ControlGuess::Label(l), _)) => {
            let Some(pk) = &s.perturbation else {
                return Ok(None);
            };
            h.column(&pk.column)?.map(|col| {
                (0..col.len())
                    .map(|i| col.text(i).as_deref() == Some(l.as_str()))
                    .collect()
            })
        }
        Some((ControlGuess::Values(c, v), _)) => h.column(c)?.map(|col| {
            (0..col.len())
                .map(|i| col.text(i).is_some_and(|t| v.contains(&t)))
                .collect()
        }),
        None => None,
    })
}

#[derive(clap::Args)]
pub struct Args {
    h5ad: PathBuf,
    /// Dataset and pipeline name [default: from the file name]
    #[arg(long)]
    name: Option<String>,
    /// Overwrite an existing manifest or pipeline of that name
    #[arg(long)]
    force: bool,
    /// Directory of the starter pipeline
    #[arg(long, default_value = "pipelines")]
    pipelines: PathBuf,
}

pub fn run(a: Args, ctx: &crate::context::Context) -> Result<()> {
    init(&InitOptions {
        h5ad: a.h5ad,
        name: a.name,
        force: a.force,
        manifest_dir: ctx.data.manifest_dirs[0].clone(),
        pipeline_dir: a.pipelines,
        data: ctx.data.clone(),
    })
}

fn init(o: &InitOptions) -> Result<()> {
    let h = Inspected::open(&o.h5ad)?;
    let profile = h.profile()?;
    let suggestion = inspect::suggest(&profile);
    let file_name = o
        .h5ad
        .file_name()
        .and_then(|f| f.to_str())
        .with_context(|| format!("{}: not a file name", o.h5ad.display()))?;
    let base = file_name.strip_suffix(".gz").unwrap_or(file_name);
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let name = starter::identifier(o.name.as_deref().unwrap_or(stem));
    let dir = std::fs::canonicalize(&o.h5ad)
        .with_context(|| o.h5ad.display().to_string())?
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| ".".into());

    println!("{}: {}", o.h5ad.display(), describe(&profile));
    let mut warnings = suggestion.warnings.clone();
    if let (Some(b), Some(flags)) = (&suggestion.batch, control_flags(&h, &suggestion)?) {
        if let Some(col) = h.column(&b.column)? {
            let bare = inspect::batches_without_controls(&col, &flags);
            if !bare.is_empty() {
                let shown: Vec<&str> = bare.iter().take(10).map(String::as_str).collect();
                warnings.push(format!(
                    "{} of the batches in `{}` have no controls and will be left out of every post-processing but raw: {}{}",
                    bare.len(),
                    b.column,
                    shown.join(", "),
                    if bare.len() > 10 { ", ..." } else { "" }
                ));
            }
        }
    }
    // Task 5 needs labels that name genes of the relationship sources.
    if let Some(pc) = suggestion
        .perturbation
        .as_ref()
        .and_then(|pk| profile.columns.iter().find(|c| c.name == pk.column))
    {
        let (rel, sources) = relationship_genes(&o.data);
        let targets: Vec<&String> = pc
            .levels
            .iter()
            .map(|(l, _)| l)
            .filter(|l| !inspect::is_control_label(l) && !inspect::is_unassigned_label(l))
            .collect();
        let named = targets.iter().filter(|l| rel.contains(l.as_str())).count();
        if !sources.is_empty() && !targets.is_empty() && named * 2 < targets.len() {
            warnings.push(format!(
                "only {named} of the {} perturbation labels of `{}` name a gene of the relationship sources ({}): Task 5 will have no pairs for the others; labels must be gene symbols (map guide ids to their target genes first)",
                targets.len(),
                pc.name,
                sources.join(", ")
            ));
        } else if sources.is_empty() && pc.gene_labels * 2 < targets.len() && pc.gene_labels > 0 {
            warnings.push(
                "no relationship source could be read to check the labels against (fetch corum or stringdb, or pass --mirror): if the labels are guide ids rather than gene symbols, Task 5 will have no pairs".to_string(),
            );
        }
    }
    println!("Suggested columns:");
    let line = |what: &str, pick: &Option<inspect::Pick>| match pick {
        Some(p) => println!("  {what:<13} {}  ({})", p.column, p.why),
        None => println!("  {what:<13} not found"),
    };
    line("perturbation", &suggestion.perturbation);
    line("batch", &suggestion.batch);
    match &suggestion.control {
        Some((ControlGuess::Column(c), why)) => println!("  control       column {c}  ({why})"),
        Some((ControlGuess::Label(l), why)) => println!("  control       label {l}  ({why})"),
        Some((ControlGuess::Values(c, v), why)) => {
            println!("  control       column {c} in {}  ({why})", v.join(", "))
        }
        None => println!("  control       not found"),
    }
    if let Some(g) = &suggestion.gene_map {
        println!(
            "  gene_map      {g}  (one row per gene, no batches or controls: a gene-level map)"
        );
    } else if profile.n_features > 0 {
        println!("  features      {} numeric columns", profile.n_features);
    } else {
        match profile.counts_matrix() {
            Some(m) => println!("  counts        {m}"),
            None => println!("  counts        none found: values are log expression"),
        }
    }
    if let Some(c) = &suggestion.gene_column {
        println!("  gene_column   {c}  (var column naming genes as the perturbation labels do)");
    }
    if !suggestion.drop_labels.is_empty() {
        println!("  drop_labels   {}", suggestion.drop_labels.join(", "));
    }
    if let Some(c) = &suggestion.context {
        println!(
            "  context       {}  (commented out in the manifest)",
            c.column
        );
    }
    for w in &warnings {
        println!("warning: {w}");
    }

    let manifest_path = o.manifest_dir.join(format!("{name}.yaml"));
    let pipeline_path = o.pipeline_dir.join(format!("{name}.yaml"));
    // Check both before writing either, so nothing is half done.
    for p in [&manifest_path, &pipeline_path] {
        if p.exists() && !o.force {
            bail!(
                "{} exists; pass --force to overwrite it, or --name to write another",
                p.display()
            );
        }
    }
    eprintln!("hashing {} ...", o.h5ad.display());
    let sha256 = pertbench_data::fetch::sha256_file(&o.h5ad)?;
    let size_bytes = std::fs::metadata(&o.h5ad)
        .with_context(|| o.h5ad.display().to_string())?
        .len();
    let input = StarterInput {
        name: &name,
        file_name,
        file_dir: &dir,
        sha256: &sha256,
        size_bytes,
        profile: &profile,
        suggestion: &suggestion,
    };
    let write = pertbench_data::fetch::atomic_write_readable;
    write(&manifest_path, starter::manifest_yaml(&input).as_bytes())?;
    write(&pipeline_path, starter::pipeline_yaml(&input).as_bytes())?;
    println!(
        "\nWrote {} (dataset `{name}`) and {}.\nCheck the columns in the manifest, then run:\n  pertbench --mirror {dir} run {}",
        manifest_path.display(),
        pipeline_path.display(),
        pipeline_path.display()
    );
    Ok(())
}
