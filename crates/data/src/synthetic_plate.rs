//! A built-in Cell Painting-shaped set of plates, for `pipelines/profiles.yaml`.
//!
//! Deterministic in its seed. Wells are CellProfiler-named, float32
//! profiles: each plate has its own shift and scale of every feature and
//! its own DMSO wells; each compound has `replicates` wells spread over the
//! plates, and an annotation of one target (every fifth compound a second,
//! `|`-separated; every tenth none). An active compound (`active_fraction`
//! of them) shifts its wells along its own direction and its targets'
//! directions, so compounds of a target are consistent; the others have no
//! effect. Features correlate within a compartment (a shared factor per
//! compartment), as CellProfiler features do.

use crate::samples::Samples;
use pertbench_kernels::sparse::csr::CsrMatrix;
use pertbench_kernels::stats::rng::stream;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Deserialize;

fn d_seed() -> u64 {
    0
}
fn d_plates() -> usize {
    4
}
fn d_dmso() -> usize {
    32
}
fn d_compounds() -> usize {
    300
}
fn d_replicates() -> usize {
    4
}
fn d_targets() -> usize {
    40
}
fn d_features() -> usize {
    120
}
fn d_active() -> f64 {
    0.5
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticPlateSpec {
    #[serde(default = "d_seed")]
    pub seed: u64,
    #[serde(default = "d_plates")]
    pub n_plates: usize,
    /// DMSO (control) wells on every plate.
    #[serde(default = "d_dmso")]
    pub dmso_per_plate: usize,
    #[serde(default = "d_compounds")]
    pub n_compounds: usize,
    /// Wells per compound, over the plates.
    #[serde(default = "d_replicates")]
    pub replicates: usize,
    /// Targets the compounds are annotated with.
    #[serde(default = "d_targets")]
    pub n_targets: usize,
    /// Features per well (a multiple of the 3 compartments x 2 measures is
    /// not needed).
    #[serde(default = "d_features")]
    pub n_features: usize,
    /// Share of compounds with an effect.
    #[serde(default = "d_active")]
    pub active_fraction: f64,
}

impl SyntheticPlateSpec {
    /// Why the spec cannot be generated (a size out of range), or None.
    pub fn invalid(&self) -> Option<String> {
        for (field, v, min, max) in [
            ("n_plates", self.n_plates, 1, 10_000),
            ("dmso_per_plate", self.dmso_per_plate, 1, 100_000),
            ("n_compounds", self.n_compounds, 1, 1_000_000),
            ("replicates", self.replicates, 1, 1_000),
            ("n_targets", self.n_targets, 1, 1_000_000),
            ("n_features", self.n_features, 1, 100_000),
        ] {
            if v < min || v > max {
                return Some(format!(
                    "field `source.synthetic_plate.{field}` must lie between {min} and {max}, got {v}"
                ));
            }
        }
        let wells = self
            .n_compounds
            .saturating_mul(self.replicates)
            .saturating_add(self.n_plates.saturating_mul(self.dmso_per_plate));
        if wells.saturating_mul(self.n_features) > 2_000_000_000 {
            return Some(format!(
                "the synthetic plates would hold {wells} wells x {} features (at most 2e9 values)",
                self.n_features
            ));
        }
        if !(0.0..=1.0).contains(&self.active_fraction) {
            return Some(format!(
                "field `source.synthetic_plate.active_fraction` must lie between 0 and 1, got {}",
                self.active_fraction
            ));
        }
        None
    }
}

pub struct SyntheticPlates {
    pub samples: Samples,
    /// Wells x features, stored dense as CSR rows.
    pub features: CsrMatrix,
    pub feature_names: Vec<String>,
}

pub const CONTROL_LABEL: &str = "DMSO";

/// CellProfiler-style names: compartment, measurement, index.
fn feature_names(d: usize) -> Vec<String> {
    const PARTS: [(&str, &str); 6] = [
        ("Cells", "AreaShape"),
        ("Cells", "Intensity"),
        ("Cytoplasm", "Texture"),
        ("Cytoplasm", "Intensity"),
        ("Nuclei", "AreaShape"),
        ("Nuclei", "Granularity"),
    ];
    (0..d)
        .map(|j| {
            let (c, m) = PARTS[j % PARTS.len()];
            format!("{c}_{m}_{}", j / PARTS.len())
        })
        .collect()
}

fn normal(rng: &mut impl Rng) -> f64 {
    StandardNormal.sample(rng)
}

pub fn generate(spec: &SyntheticPlateSpec) -> Result<SyntheticPlates, String> {
    if let Some(why) = spec.invalid() {
        return Err(why);
    }
    let d = spec.n_features;
    let names = feature_names(d);
    let mut rng = stream(spec.seed, "synthetic-plate/design", 0);
    let unit = |rng: &mut _| -> Vec<f64> {
        let v: Vec<f64> = (0..d).map(|_| normal(rng)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        v.into_iter()
            .map(|x| x / norm * (d as f64).sqrt())
            .collect()
    };
    let plate_shift: Vec<Vec<f64>> = (0..spec.n_plates)
        .map(|_| (0..d).map(|_| 0.4 * normal(&mut rng)).collect())
        .collect();
    let plate_scale: Vec<Vec<f64>> = (0..spec.n_plates)
        .map(|_| (0..d).map(|_| (0.15 * normal(&mut rng)).exp()).collect())
        .collect();
    let targets: Vec<Vec<f64>> = (0..spec.n_targets).map(|_| unit(&mut rng)).collect();
    struct Compound {
        name: String,
        annotation: Option<String>,
        effect: Vec<f64>,
    }
    let compounds: Vec<Compound> = (0..spec.n_compounds)
        .map(|k| {
            let first = k % spec.n_targets;
            let mut held = vec![first];
            if k % 5 == 4 && spec.n_targets > 1 {
                let second = (first + 1 + (k / 5) % (spec.n_targets - 1)) % spec.n_targets;
                held.push(second);
            }
            let annotated = k % 10 != 9;
            let active = rng.random::<f64>() < spec.active_fraction;
            let strength = if active {
                0.35 + 0.3 * rng.random::<f64>()
            } else {
                0.0
            };
            let own = unit(&mut rng);
            let effect = (0..d)
                .map(|j| {
                    let shared: f64 = if annotated {
                        held.iter().map(|&t| targets[t][j]).sum::<f64>()
                    } else {
                        0.0
                    };
                    strength * (0.8 * own[j] + shared)
                })
                .collect();
            Compound {
                name: format!("BRD-{k:05}"),
                annotation: annotated.then(|| {
                    held.iter()
                        .map(|t| format!("T{t:03}"))
                        .collect::<Vec<_>>()
                        .join("|")
                }),
                effect,
            }
        })
        .collect();
    // Wells: each plate's DMSO, then the compounds' wells spread over the
    // plates.
    let mut wells: Vec<(usize, Option<usize>)> = Vec::new();
    for p in 0..spec.n_plates {
        wells.extend(std::iter::repeat_n((p, None), spec.dmso_per_plate));
    }
    for k in 0..spec.n_compounds {
        for r in 0..spec.replicates {
            wells.push(((k + r) % spec.n_plates, Some(k)));
        }
    }
    let compartments = 3;
    let mut samples = Samples {
        annotation: Some(Vec::with_capacity(wells.len())),
        ..Default::default()
    };
    let mut rows: Vec<Vec<f32>> = Vec::with_capacity(wells.len());
    let mut on_plate = vec![0usize; spec.n_plates];
    for (i, &(p, k)) in wells.iter().enumerate() {
        let mut r = stream(spec.seed, "synthetic-plate/well", i as u64);
        let factors: Vec<f64> = (0..compartments).map(|_| normal(&mut r)).collect();
        let row: Vec<f32> = (0..d)
            .map(|j| {
                let shared = 0.6 * factors[(j / 2) % compartments];
                let effect = k.map_or(0.0, |k| compounds[k].effect[j]);
                let v = plate_shift[p][j] + plate_scale[p][j] * (normal(&mut r) + shared + effect);
                v as f32
            })
            .collect();
        rows.push(row);
        let n = on_plate[p];
        on_plate[p] += 1;
        samples.sample_id.push(format!(
            "P{:02}_{}{:02}{}",
            p + 1,
            (b'A' + (n / 24 % 16) as u8) as char,
            n % 24 + 1,
            // Past a 384-well plate's wells, a suffix keeps ids unique.
            if n >= 384 {
                format!("_{}", n / 384)
            } else {
                String::new()
            }
        ));
        samples.batch.push(format!("P{:02}", p + 1));
        match k {
            Some(k) => {
                samples.perturbation.push(compounds[k].name.clone());
                samples.is_control.push(false);
                samples
                    .annotation
                    .as_mut()
                    .expect("set")
                    .push(compounds[k].annotation.clone());
            }
            None => {
                samples.perturbation.push(CONTROL_LABEL.into());
                samples.is_control.push(true);
                samples.annotation.as_mut().expect("set").push(None);
            }
        }
    }
    let features = CsrMatrix::from_dense_rows(d, &rows).map_err(|e| e.to_string())?;
    Ok(SyntheticPlates {
        samples,
        features,
        feature_names: names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SyntheticPlateSpec {
        serde_yaml_ng::from_str(
            "{n_plates: 2, dmso_per_plate: 5, n_compounds: 20, n_targets: 4, n_features: 12}",
        )
        .unwrap()
    }

    #[test]
    fn deterministic_with_dmso_on_every_plate_and_annotations() {
        let a = generate(&spec()).unwrap();
        let b = generate(&spec()).unwrap();
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.features.nrows, 2 * 5 + 20 * 4);
        assert_eq!(a.features.ncols, 12);
        assert_eq!(a.feature_names[0], "Cells_AreaShape_0");
        let s = &a.samples;
        for plate in ["P01", "P02"] {
            assert!((0..s.len()).any(|i| s.batch[i] == plate && s.is_control[i]));
        }
        let ann = s.annotation.as_ref().unwrap();
        assert!(ann
            .iter()
            .any(|a| a.as_deref().is_some_and(|a| a.contains('|'))));
        assert!((0..s.len()).any(|i| !s.is_control[i] && ann[i].is_none()));
        let mut ids = s.sample_id.clone();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), s.len(), "well ids are unique");
        let mut bad = spec();
        bad.active_fraction = 2.0;
        assert!(generate(&bad).is_err());
    }
}
