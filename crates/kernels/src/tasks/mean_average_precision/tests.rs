use super::*;
use crate::stats::rng::stream;
use ndarray::Array2;
use rand::Rng;
use std::collections::BTreeMap;

/// A pair's similarity, computed directly in f64 (the transcription's).
fn reference_similarity(x: &Array2<f32>, i: usize, j: usize, similarity: Similarity) -> f64 {
    let (a, b) = (x.row(i), x.row(j));
    let f = |v: &f32| f64::from(*v);
    match similarity {
        Similarity::Cosine | Similarity::AbsCosine | Similarity::Correlation => {
            let centre = similarity == Similarity::Correlation;
            let (ma, mb) = if centre {
                (
                    a.iter().map(f).sum::<f64>() / a.len() as f64,
                    b.iter().map(f).sum::<f64>() / b.len() as f64,
                )
            } else {
                (0.0, 0.0)
            };
            let dot: f64 = a
                .iter()
                .zip(b.iter())
                .map(|(u, v)| (f(u) - ma) * (f(v) - mb))
                .sum();
            let na = a.iter().map(|u| (f(u) - ma).powi(2)).sum::<f64>().sqrt();
            let nb = b.iter().map(|v| (f(v) - mb).powi(2)).sum::<f64>().sqrt();
            let c = dot / (na * nb);
            if similarity == Similarity::AbsCosine {
                c.abs()
            } else {
                c
            }
        }
        s => distance_similarity(a, b, s),
    }
}

/// copairs' recipe, transcribed: the pairs i < j of each rule, every pair in
/// both of its profiles' lists (positives first), a stable sort by
/// 1 - similarity (float32), and AP from the cumulative positives.
fn copairs_transcription(
    x: &Array2<f32>,
    positive: &PairRule,
    negative: &PairRule,
    similarity: Similarity,
) -> Vec<ProfileAp> {
    let n = x.nrows();
    let sim = |i: usize, j: usize| reference_similarity(x, i, j, similarity);
    let mut lists: Vec<Vec<(f32, bool)>> = vec![Vec::new(); n];
    for (rule, label) in [(positive, true), (negative, false)] {
        for i in 0..n {
            for j in (i + 1)..n {
                if rule.accepts(i, j) {
                    let key = 1.0f32 - sim(i, j) as f32;
                    lists[i].push((key, label));
                    lists[j].push((key, label));
                }
            }
        }
    }
    lists
        .into_iter()
        .map(|mut l| {
            l.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (mut tp, mut sum) = (0u32, 0.0f64);
            for (k, &(_, pos)) in l.iter().enumerate() {
                if pos {
                    tp += 1;
                    sum += f64::from(tp) / (k + 1) as f64;
                }
            }
            ProfileAp {
                average_precision: if tp > 0 {
                    sum / f64::from(tp)
                } else {
                    f64::NAN
                },
                n_pos_pairs: tp,
                n_total_pairs: l.len() as u32,
            }
        })
        .collect()
}

/// Every profile's AP, on this thread.
fn aps_seq(
    x: &Array2<f32>,
    positive: &PairRule,
    negative: &PairRule,
    similarity: Similarity,
) -> Result<Vec<ProfileAp>, KernelError> {
    average_precisions(
        x.view(),
        positive,
        negative,
        similarity,
        Par::Seq,
        &Work::new(),
    )
}

fn same(a: &[ProfileAp], b: &[ProfileAp]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.n_pos_pairs == y.n_pos_pairs
                && x.n_total_pairs == y.n_total_pairs
                && (x.average_precision == y.average_precision
                    || (x.average_precision.is_nan() && y.average_precision.is_nan())
                    || (x.average_precision - y.average_precision).abs() < 1e-12)
        })
}

/// A plate: `compounds` x `replicates` treated wells (compound k's wells
/// shifted along a direction of their own, `strength` of it) and
/// `controls` control wells; codes: compound (controls 0), a reference
/// index (each control its own, treated wells 0), plate.
fn plate(
    compounds: usize,
    replicates: usize,
    controls: usize,
    d: usize,
    strength: f32,
    seed: u64,
) -> (Array2<f32>, Vec<u32>, Vec<u32>, Vec<u32>) {
    let n = compounds * replicates + controls;
    let mut r = stream(seed, "map/plate", 0);
    let dirs: Vec<Vec<f32>> = (0..compounds)
        .map(|_| (0..d).map(|_| r.random::<f32>() - 0.5).collect())
        .collect();
    let mut x = Array2::<f32>::zeros((n, d));
    let (mut compound, mut reference, mut plate) = (vec![0; n], vec![0; n], vec![0; n]);
    for i in 0..n {
        for k in 0..d {
            x[(i, k)] = r.random::<f32>() - 0.5;
        }
        if i < compounds * replicates {
            let c = i / replicates;
            compound[i] = c as u32 + 1;
            for k in 0..d {
                x[(i, k)] += strength * dirs[c][k];
            }
        } else {
            reference[i] = i as u32 + 1;
        }
        plate[i] = (i % 2) as u32;
    }
    (x, compound, reference, plate)
}

#[test]
fn average_precisions_are_copairs_ranking_on_every_similarity() {
    let (x, compound, reference, plate) = plate(6, 4, 15, 12, 0.8, 1);
    let same_pos: [&[u32]; 2] = [&compound, &reference];
    let diff_neg: [&[u32]; 2] = [&compound, &reference];
    let pos = PairRule {
        same: &same_pos,
        diff: &[],
    };
    let neg = PairRule {
        same: &[],
        diff: &diff_neg,
    };
    for s in [
        Similarity::Cosine,
        Similarity::AbsCosine,
        Similarity::Correlation,
        Similarity::Euclidean,
        Similarity::Manhattan,
        Similarity::Chebyshev,
    ] {
        let want = copairs_transcription(&x, &pos, &neg, s);
        for par in [Par::Seq, Par::rayon(2)] {
            let got = average_precisions(x.view(), &pos, &neg, s, par, &Work::new()).unwrap();
            assert!(same(&got, &want), "{s:?}: {got:?}\nvs {want:?}");
        }
        // Treated wells: 3 positives, 15 negatives; controls: none, 24.
        assert_eq!((want[0].n_pos_pairs, want[0].n_total_pairs), (3, 18));
        assert_eq!((want[24].n_pos_pairs, want[24].n_total_pairs), (0, 24));
        assert!(want[24].average_precision.is_nan());
    }
    // Negatives on the same plate only; positives across plates only.
    let same_neg: [&[u32]; 1] = [&plate];
    let diff_pos: [&[u32]; 1] = [&plate];
    let same_pos: [&[u32]; 1] = [&compound];
    let pos = PairRule {
        same: &same_pos,
        diff: &diff_pos,
    };
    let neg = PairRule {
        same: &same_neg,
        diff: &diff_neg,
    };
    let want = copairs_transcription(&x, &pos, &neg, Similarity::Cosine);
    let got = aps_seq(&x, &pos, &neg, Similarity::Cosine).unwrap();
    assert!(same(&got, &want), "{got:?}\nvs {want:?}");
    // A rule of `same` columns only pairs the members with each other; a
    // pair both rules take is listed twice.
    let same_pos: [&[u32]; 1] = [&compound];
    let pos = PairRule {
        same: &same_pos,
        diff: &[],
    };
    let neg = PairRule {
        same: &[],
        diff: &diff_pos,
    };
    let want = copairs_transcription(&x, &pos, &neg, Similarity::Cosine);
    let got = aps_seq(&x, &pos, &neg, Similarity::Cosine).unwrap();
    assert!(same(&got, &want), "{got:?}\nvs {want:?}");
}

#[test]
fn equal_keys_rank_positives_first() {
    // Profile 0 is equally similar to its positive (1) and a negative (2).
    let x = Array2::from_shape_vec((3, 2), vec![1.0f32, 0.0, 0.0, 1.0, 0.0, 1.0]).unwrap();
    let c = [1u32, 1, 2];
    let cols: [&[u32]; 1] = [&c];
    let pos = PairRule {
        same: &cols,
        diff: &[],
    };
    let neg = PairRule {
        same: &[],
        diff: &cols,
    };
    let ap = aps_seq(&x, &pos, &neg, Similarity::Cosine).unwrap();
    assert_eq!(ap[0].average_precision, 1.0);
    // Profile 1: its negative (2, identical) ranks first, then 0.
    assert_eq!(ap[1].average_precision, 0.5);
    assert!(ap[2].average_precision.is_nan());
    assert_eq!(ap[2].n_total_pairs, 2);
}

#[test]
fn undefined_similarities_and_bad_rules_are_errors() {
    let x = Array2::from_shape_vec((3, 2), vec![1.0f32, 0.0, 0.0, 0.0, 1.0, 1.0]).unwrap();
    let c = [1u32, 1, 2];
    let cols: [&[u32]; 1] = [&c];
    let pos = PairRule {
        same: &cols,
        diff: &[],
    };
    let neg = PairRule {
        same: &[],
        diff: &cols,
    };
    let e = aps_seq(&x, &pos, &neg, Similarity::Cosine).unwrap_err();
    assert!(e.to_string().contains("row 1"), "{e}");
    let e = aps_seq(&x, &pos, &neg, Similarity::Correlation).unwrap_err();
    assert!(
        e.to_string().contains("row 1") && e.to_string().contains("constant"),
        "{e}"
    );
    let empty = PairRule {
        same: &[],
        diff: &[],
    };
    assert!(aps_seq(&x, &empty, &neg, Similarity::Euclidean).is_err());
    let both = PairRule {
        same: &cols,
        diff: &cols,
    };
    assert!(aps_seq(&x, &both, &neg, Similarity::Euclidean).is_err());
    let mut nan = x.clone();
    nan[(2, 1)] = f32::NAN;
    let e = aps_seq(&nan, &pos, &neg, Similarity::Euclidean).unwrap_err();
    assert_eq!(e, KernelError::NonFinite { row: 2, column: 1 });
}

#[test]
fn mean_average_precision_tests_groups_against_copairs_null() {
    let (x, compound, reference, _) = plate(12, 4, 30, 16, 1.5, 2);
    let same_pos: [&[u32]; 2] = [&compound, &reference];
    let pos = PairRule {
        same: &same_pos,
        diff: &[],
    };
    let neg = PairRule {
        same: &[],
        diff: &same_pos,
    };
    let aps = aps_seq(&x, &pos, &neg, Similarity::Cosine).unwrap();
    let group: Vec<Option<u32>> = compound.iter().map(|&c| (c > 0).then_some(c)).collect();
    let maps = mean_average_precision(&aps, &group, 200, 0, Par::Seq).unwrap();
    assert_eq!(maps.len(), 12);
    for m in &maps {
        let rows: Vec<f64> = (0..compound.len())
            .filter(|&i| compound[i] == m.group)
            .map(|i| aps[i].average_precision)
            .collect();
        assert_eq!(m.n_profiles, 4);
        assert!((m.mean_average_precision - rows.iter().sum::<f64>() / 4.0).abs() < 1e-15);
        // Every profile: 3 positives among 33; one configuration, seeded
        // by the first of copairs' configuration seeds.
        let seed = null::configuration_seeds(1, 0)[0];
        let null = null::random_average_precisions(200, 3, 33, seed);
        let group_null = null::group_null(&[&null, &null, &null, &null]);
        assert_eq!(
            m.p_value,
            null::p_value(m.mean_average_precision, &group_null)
        );
    }
    // Strong compounds are retrieved: all significant after BH.
    assert!(maps.iter().all(|m| m.corrected_p_value < 0.05), "{maps:?}");
    // Same results on two threads.
    assert_eq!(
        maps,
        mean_average_precision(&aps, &group, 200, 0, Par::rayon(2)).unwrap()
    );
}

#[test]
fn copairs_null_p_values_are_not_uniform_for_dependent_replicates() {
    // No effect, every sample exchangeable: copairs' null scores each
    // sample's rank list independently, but replicates rank each other.
    // With 4 replicates its p-values pile up in the middle (the permutation
    // test's are uniform on the same plate, below); this documents the
    // measured departure quoted in `explain map`.
    let (x, compound, reference, _) = plate(300, 4, 40, 8, 0.0, 11);
    let same_pos: [&[u32]; 2] = [&compound, &reference];
    let pos = PairRule {
        same: &same_pos,
        diff: &[],
    };
    let neg = PairRule {
        same: &[],
        diff: &same_pos,
    };
    let aps = average_precisions(
        x.view(),
        &pos,
        &neg,
        Similarity::Cosine,
        Par::rayon(2),
        &Work::new(),
    )
    .unwrap();
    let group: Vec<Option<u32>> = compound.iter().map(|&c| (c > 0).then_some(c)).collect();
    let maps = mean_average_precision(&aps, &group, 1000, 7, Par::rayon(2)).unwrap();
    let n = maps.len() as f64;
    let share = |level: f64| maps.iter().filter(|m| m.p_value <= level).count() as f64 / n;
    let se = (0.25f64 / n).sqrt();
    eprintln!(
        "copairs null, 4 replicates: p <= 0.05 {:.3}, <= 0.25 {:.3}, <= 0.5 {:.3}",
        share(0.05),
        share(0.25),
        share(0.5)
    );
    assert!(share(0.5) > 0.5 + 4.0 * se, "share {}", share(0.5));
}

mod permutation_test {
    use super::*;
    use crate::tasks::mean_average_precision::permutation::{
        permutation_test, PermutationTest, SLOW_PATH,
    };
    use std::sync::atomic::Ordering;

    fn permutation_p_values(
        t: &PermutationTest,
        groups: &[Vec<usize>],
        n_draws: usize,
        seed: u64,
        par: Par,
        work: &Work,
    ) -> Result<Vec<(f64, f64)>, KernelError> {
        Ok(permutation_test(t, groups, n_draws, seed, par, work)?
            .into_iter()
            .map(|g| (g.mean_average_precision, g.p_value))
            .collect())
    }

    fn groups_of(compound: &[u32]) -> Vec<Vec<usize>> {
        let mut by: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, &c) in compound.iter().enumerate() {
            if c > 0 {
                by.entry(c).or_default().push(i);
            }
        }
        by.into_values().filter(|g| g.len() >= 2).collect()
    }

    #[test]
    fn observed_map_is_the_map_and_strong_groups_reach_the_smallest_p() {
        let (x, compound, reference, plate) = plate(8, 4, 20, 12, 3.0, 4);
        let controls: Vec<usize> = (0..compound.len()).filter(|&i| compound[i] == 0).collect();
        let same_pos: [&[u32]; 2] = [&compound, &reference];
        let batch: [&[u32]; 1] = [&plate];
        let groups = groups_of(&compound);
        for within in [false, true] {
            let one = vec![0u32; compound.len()];
            let t = PermutationTest {
                x: x.view(),
                similarity: Similarity::Cosine,
                controls: &controls,
                stratum: if within { &plate } else { &one },
                negatives_within_stratum: within,
            };
            let got = permutation_p_values(&t, &groups, 99, 5, Par::Seq, &Work::new()).unwrap();
            let pos = PairRule {
                same: &same_pos,
                diff: &[],
            };
            let neg = PairRule {
                same: if within { &batch } else { &[] },
                diff: &same_pos,
            };
            let aps = aps_seq(&x, &pos, &neg, Similarity::Cosine).unwrap();
            for (g, (observed, p)) in groups.iter().zip(&got) {
                let map = g.iter().map(|&i| aps[i].average_precision).sum::<f64>() / g.len() as f64;
                assert!(
                    (observed - map).abs() < 1e-12,
                    "within {within}: {observed} vs {map}"
                );
                assert_eq!(*p, 0.01, "within {within}: strong group p {p}");
            }
            assert_eq!(
                got,
                permutation_p_values(&t, &groups, 99, 5, Par::rayon(2), &Work::new()).unwrap()
            );
        }
    }

    #[test]
    fn a_non_finite_feature_is_an_error_naming_it() {
        let (x, compound, _, _) = plate(3, 3, 8, 6, 1.0, 2);
        let controls: Vec<usize> = (0..compound.len()).filter(|&i| compound[i] == 0).collect();
        let groups = groups_of(&compound);
        let one = vec![0u32; compound.len()];
        for (row, value) in [(controls[1], f32::NAN), (groups[0][1], f32::INFINITY)] {
            let mut bad = x.clone();
            bad[(row, 4)] = value;
            for similarity in [Similarity::Cosine, Similarity::Euclidean] {
                let t = PermutationTest {
                    x: bad.view(),
                    similarity,
                    controls: &controls,
                    stratum: &one,
                    negatives_within_stratum: false,
                };
                let e =
                    permutation_p_values(&t, &groups, 9, 1, Par::Seq, &Work::new()).unwrap_err();
                assert_eq!(e, KernelError::NonFinite { row, column: 4 });
            }
        }
    }

    #[test]
    fn draws_match_the_exact_permutation_distribution() {
        // Two group samples and four controls: 15 labellings, enumerated.
        let (x, compound, _, _) = plate(1, 2, 4, 5, 0.3, 9);
        let controls: Vec<usize> = (2..6).collect();
        let one = vec![0u32; 6];
        let t = PermutationTest {
            x: x.view(),
            similarity: Similarity::Euclidean,
            controls: &controls,
            stratum: &one,
            negatives_within_stratum: false,
        };
        let groups = groups_of(&compound);
        let (observed, p) =
            permutation_p_values(&t, &groups, 20_000, 1, Par::Seq, &Work::new()).unwrap()[0];
        // Each labelling's mAP with the kernel's AP (positives: the other
        // labelled sample; negatives: the four others).
        let sim = |i: usize, j: usize| {
            1.0f32 - distance_similarity(x.row(i), x.row(j), Similarity::Euclidean) as f32
        };
        let mut at_least = 0;
        let mut total = 0;
        for a in 0..6 {
            for b in (a + 1)..6 {
                let map = [a, b]
                    .iter()
                    .map(|&d| {
                        let other = if d == a { b } else { a };
                        let mut pos = vec![sim(d, other)];
                        let neg: Vec<f32> = (0..6)
                            .filter(|&q| q != a && q != b)
                            .map(|q| sim(d, q))
                            .collect();
                        average_precision_of(&mut pos, &neg).average_precision
                    })
                    .sum::<f64>()
                    / 2.0;
                total += 1;
                at_least += usize::from(map >= observed);
            }
        }
        let exact = at_least as f64 / total as f64;
        assert!((p - exact).abs() < 0.015, "p {p} vs exact {exact}");
    }

    #[test]
    fn permutation_p_values_are_uniform_under_exchangeability() {
        // Where copairs' null is not (its p <= 0.5 share is 0.65 here).
        let (x, compound, _, plate) = plate(300, 4, 40, 8, 0.0, 11);
        let controls: Vec<usize> = (0..compound.len()).filter(|&i| compound[i] == 0).collect();
        let groups = groups_of(&compound);
        let one = vec![0u32; compound.len()];
        for within in [false, true] {
            let t = PermutationTest {
                x: x.view(),
                similarity: Similarity::Cosine,
                controls: &controls,
                stratum: if within { &plate } else { &one },
                negatives_within_stratum: within,
            };
            let got =
                permutation_p_values(&t, &groups, 199, 3, Par::rayon(2), &Work::new()).unwrap();
            let n = got.len() as f64;
            for level in [0.05, 0.25, 0.5] {
                let share = got.iter().filter(|r| r.1 <= level).count() as f64 / n;
                let se = (level * (1.0 - level) / n).sqrt();
                assert!(
                    (share - level).abs() < 4.0 * se,
                    "within {within}: share {share} at {level}"
                );
            }
        }
    }

    #[test]
    fn sorted_rows_rank_drawn_controls_as_the_whole_pool_does() {
        let (x, compound, _, plate) = plate(40, 3, 25, 6, 0.4, 13);
        let controls: Vec<usize> = (0..compound.len()).filter(|&i| compound[i] == 0).collect();
        let groups = groups_of(&compound);
        let one = vec![0u32; compound.len()];
        for s in [
            Similarity::Cosine,
            Similarity::Manhattan,
            Similarity::AbsCosine,
        ] {
            for within in [false, true] {
                let t = PermutationTest {
                    x: x.view(),
                    similarity: s,
                    controls: &controls,
                    stratum: if within { &plate } else { &one },
                    negatives_within_stratum: within,
                };
                let fast =
                    permutation_p_values(&t, &groups, 300, 2, Par::Seq, &Work::new()).unwrap();
                SLOW_PATH.store(true, Ordering::Relaxed);
                let slow =
                    permutation_p_values(&t, &groups, 300, 2, Par::Seq, &Work::new()).unwrap();
                SLOW_PATH.store(false, Ordering::Relaxed);
                assert_eq!(fast, slow, "{s:?} within {within}");
            }
        }
    }
}

mod consistency_test {
    use super::*;
    use crate::tasks::mean_average_precision::consistency::{
        consensus_medians, multilabel_average_precisions, permutation_test, LabelAp, LabelTest,
    };

    /// Profiles of `labels` label sets: each label shifts its holders
    /// along a direction of its own by `strength`.
    fn profiles(labels: &[Vec<u32>], d: usize, strength: f32, seed: u64) -> Array2<f32> {
        let mut r = stream(seed, "map/consistency-plate", 0);
        let top = labels.iter().flatten().copied().max().unwrap_or(0) as usize + 1;
        let dirs: Vec<Vec<f32>> = (0..top)
            .map(|_| (0..d).map(|_| r.random::<f32>() - 0.5).collect())
            .collect();
        let mut x = Array2::<f32>::zeros((labels.len(), d));
        for (i, l) in labels.iter().enumerate() {
            for k in 0..d {
                x[(i, k)] = r.random::<f32>() - 0.5;
                for &c in l {
                    x[(i, k)] += strength * dirs[c as usize][k];
                }
            }
        }
        x
    }

    /// Random label sets: one or two of `n_labels` labels, some profiles
    /// unannotated.
    fn label_sets(n: usize, n_labels: u32, multi: bool, seed: u64) -> Vec<Vec<u32>> {
        let mut r = stream(seed, "map/consistency-labels", 0);
        (0..n)
            .map(|_| {
                if r.random::<f32>() < 0.1 {
                    return Vec::new();
                }
                let mut l = vec![r.random_range(0..n_labels)];
                if multi && r.random::<f32>() < 0.4 {
                    l.push(r.random_range(0..n_labels));
                }
                l.sort_unstable();
                l.dedup();
                l
            })
            .collect()
    }

    /// copairs' multilabel ranking, transcribed: for each profile and
    /// label, the other holders of the label as positives and the profiles
    /// sharing no label as negatives, sorted by key (stable, positives
    /// first).
    fn transcription(x: &Array2<f32>, labels: &[Vec<u32>], s: Similarity) -> Vec<LabelAp> {
        let n = x.nrows();
        let mut out = Vec::new();
        for i in 0..n {
            for &l in &labels[i] {
                let mut list: Vec<(f32, bool)> = Vec::new();
                for j in (0..n).filter(|&j| j != i && labels[j].contains(&l)) {
                    list.push((1.0f32 - reference_similarity(x, i, j, s) as f32, true));
                }
                if list.is_empty() {
                    continue;
                }
                for j in 0..n {
                    if j != i
                        && !labels[j].is_empty()
                        && labels[j].iter().all(|m| !labels[i].contains(m))
                    {
                        list.push((1.0f32 - reference_similarity(x, i, j, s) as f32, false));
                    }
                }
                list.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (mut tp, mut sum) = (0u32, 0.0f64);
                for (k, &(_, pos)) in list.iter().enumerate() {
                    if pos {
                        tp += 1;
                        sum += f64::from(tp) / (k + 1) as f64;
                    }
                }
                out.push(LabelAp {
                    profile: i,
                    label: l,
                    ap: ProfileAp {
                        average_precision: sum / f64::from(tp),
                        n_pos_pairs: tp,
                        n_total_pairs: list.len() as u32,
                    },
                });
            }
        }
        out
    }

    fn test(labels: &[Vec<u32>], x: &Array2<f32>, draws: usize, par: Par) -> Vec<LabelTest> {
        permutation_test(
            x.view(),
            labels,
            Similarity::Cosine,
            draws,
            7,
            par,
            &Work::new(),
        )
        .unwrap()
    }

    #[test]
    fn multilabel_aps_are_copairs_ranking() {
        let labels = label_sets(70, 12, true, 1);
        let x = profiles(&labels, 6, 0.8, 2);
        for s in [
            Similarity::Cosine,
            Similarity::Correlation,
            Similarity::Euclidean,
            Similarity::Chebyshev,
        ] {
            let want = transcription(&x, &labels, s);
            let got = multilabel_average_precisions(x.view(), &labels, s, Par::Seq, &Work::new())
                .unwrap();
            assert_eq!(got.len(), want.len(), "{s:?}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!((g.profile, g.label), (w.profile, w.label));
                assert_eq!(g.ap.n_pos_pairs, w.ap.n_pos_pairs);
                assert_eq!(g.ap.n_total_pairs, w.ap.n_total_pairs);
                assert!(
                    (g.ap.average_precision - w.ap.average_precision).abs() < 1e-12,
                    "{s:?} {g:?} vs {w:?}"
                );
            }
            assert_eq!(
                got,
                multilabel_average_precisions(x.view(), &labels, s, Par::rayon(2), &Work::new())
                    .unwrap()
            );
        }
    }

    #[test]
    fn observed_map_is_the_labels_mean_ap_and_strong_labels_reach_the_smallest_p() {
        let labels = label_sets(60, 8, true, 3);
        let x = profiles(&labels, 10, 3.0, 4);
        let aps = multilabel_average_precisions(
            x.view(),
            &labels,
            Similarity::Cosine,
            Par::Seq,
            &Work::new(),
        )
        .unwrap();
        let got = test(&labels, &x, 99, Par::Seq);
        assert!(!got.is_empty());
        for t in &got {
            let mine: Vec<f64> = aps
                .iter()
                .filter(|a| a.label == t.label)
                .map(|a| a.ap.average_precision)
                .collect();
            assert_eq!(mine.len(), t.n_profiles);
            let map = mine.iter().sum::<f64>() / mine.len() as f64;
            assert!((t.mean_average_precision - map).abs() < 1e-12);
            if t.n_profiles >= 4 {
                assert_eq!(t.p_value, 0.01, "{t:?}");
            }
        }
        assert_eq!(got, test(&labels, &x, 99, Par::rayon(2)));
    }

    #[test]
    fn draws_match_the_exact_permutation_distribution() {
        // Six profiles: label 0 twice, label 1 twice, one with {0, 2}
        // (so label 0 has three holders), one unannotated: 5! = 120
        // placements of the five label sets, enumerated.
        let labels: Vec<Vec<u32>> = vec![vec![0], vec![1], vec![0, 2], vec![], vec![1], vec![0]];
        let x = profiles(&labels, 5, 0.4, 5);
        let got = test(&labels, &x, 30_000, Par::Seq);
        let annotated = [0usize, 1, 2, 4, 5];
        let key = |i: usize, j: usize| {
            let (i, j) = (i.min(j), i.max(j));
            1.0f32 - reference_similarity(&x, i, j, Similarity::Cosine) as f32
        };
        let map_of = |sets: &[Vec<u32>], label: u32| -> f64 {
            let holders: Vec<usize> = annotated
                .iter()
                .copied()
                .filter(|&p| sets[p].contains(&label))
                .collect();
            holders
                .iter()
                .map(|&p| {
                    let mut pos: Vec<f32> = holders
                        .iter()
                        .filter(|&&q| q != p)
                        .map(|&q| key(p, q))
                        .collect();
                    let neg: Vec<f32> = annotated
                        .iter()
                        .filter(|&&q| q != p && sets[q].iter().all(|m| !sets[p].contains(m)))
                        .map(|&q| key(p, q))
                        .collect();
                    average_precision_of(&mut pos, &neg).average_precision
                })
                .sum::<f64>()
                / holders.len() as f64
        };
        let mut orders: Vec<Vec<usize>> = Vec::new();
        permutations(&mut annotated.to_vec(), 0, &mut orders);
        assert_eq!(orders.len(), 120);
        for t in &got {
            let observed = map_of(&labels, t.label);
            let mut at_least = 0;
            for order in &orders {
                let mut sets = labels.clone();
                for (k, &p) in annotated.iter().enumerate() {
                    sets[p] = labels[order[k]].clone();
                }
                at_least += usize::from(map_of(&sets, t.label) >= observed - 1e-12);
            }
            let exact = at_least as f64 / 120.0;
            assert!(
                (t.p_value - exact).abs() < 0.012,
                "label {}: p {} vs exact {exact}",
                t.label,
                t.p_value
            );
        }
    }

    fn permutations(v: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
        if k == v.len() {
            out.push(v.clone());
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permutations(v, k + 1, out);
            v.swap(k, i);
        }
    }

    #[test]
    fn p_values_are_uniform_when_labels_carry_no_signal() {
        for multi in [false, true] {
            let labels = label_sets(900, 300, multi, 6);
            let x = profiles(&labels, 8, 0.0, 7);
            let got = test(&labels, &x, 199, Par::rayon(2));
            let n = got.len() as f64;
            assert!(n > 150.0, "{n} labels");
            for level in [0.05, 0.25, 0.5] {
                let share = got.iter().filter(|t| t.p_value <= level).count() as f64 / n;
                let se = (level * (1.0 - level) / n).sqrt();
                assert!(
                    (share - level).abs() < 4.0 * se,
                    "multi {multi}: share {share} at {level}"
                );
            }
        }
    }

    #[test]
    fn consensus_is_pandas_median_and_bad_input_is_named() {
        let x = Array2::from_shape_vec(
            (5, 2),
            vec![1.0f32, 5.0, 3.0, 0.5, 2.0, 0.25, 0.1, 7.0, 0.3, 1.0],
        )
        .unwrap();
        let m = consensus_medians(x.view(), &[vec![0, 1, 2], vec![3, 4], vec![2]]).unwrap();
        assert_eq!(m.row(0).to_vec(), vec![2.0, 0.5]);
        assert_eq!(
            m.row(1).to_vec(),
            vec![((0.1f64 + 0.3f64) / 2.0) as f32, 4.0]
        );
        assert_eq!(m.row(2).to_vec(), vec![2.0, 0.25]);
        assert!(consensus_medians(x.view(), &[vec![]]).is_err());
        let mut bad = x.clone();
        bad[(3, 1)] = f32::NAN;
        assert_eq!(
            consensus_medians(bad.view(), &[vec![3, 4]]).unwrap_err(),
            KernelError::NonFinite { row: 3, column: 1 }
        );
        let e = permutation_test(
            bad.view(),
            &[vec![0], vec![0], vec![1], vec![1], vec![2]],
            Similarity::Cosine,
            9,
            1,
            Par::Seq,
            &Work::new(),
        )
        .unwrap_err();
        assert_eq!(e, KernelError::NonFinite { row: 3, column: 1 });
        let unsorted = [vec![1, 0], vec![0], vec![1], vec![1], vec![2]];
        assert!(multilabel_average_precisions(
            x.view(),
            &unsorted,
            Similarity::Cosine,
            Par::Seq,
            &Work::new()
        )
        .is_err());
    }
}
