//! The hypergeometric distribution's tails and Fisher's exact test on a 2x2
//! table (scipy.stats.fisher_exact's conventions), accurate at the counts
//! of all pairs of a plate (millions): each tail starts from one
//! probability computed by Loader's saddle-point method (R's `dhyper`, no
//! cancellation between huge log-gamma values) and sums its terms by their
//! ratios, outward from the starting count until they no longer change the
//! sum.

/// ln Γ(n + 1) - (n + 1/2) ln n + n - ln √(2π), for integers n >= 0.
fn stirling_error(n: f64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
    if n == 0.0 {
        return 0.081_061_466_795_327_26;
    }
    if n <= 15.0 {
        return libm::lgamma(n + 1.0) - (n + 0.5) * n.ln() + n - LN_SQRT_2PI;
    }
    let nn = n * n;
    if n > 500.0 {
        return (S0 - S1 / nn) / n;
    }
    if n > 80.0 {
        return (S0 - (S1 - S2 / nn) / nn) / n;
    }
    if n > 35.0 {
        return (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n;
    }
    (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n
}

/// x ln(x / m) + m - x, without cancellation when x is near m.
fn deviance(x: f64, m: f64) -> f64 {
    if (x - m).abs() < 0.1 * (x + m) {
        let mut v = (x - m) / (x + m);
        let mut s = (x - m) * v;
        let mut term = 2.0 * x * v;
        v *= v;
        for j in 1..1000 {
            term *= v;
            let next = s + term / f64::from(2 * j + 1);
            if next == s {
                return next;
            }
            s = next;
        }
        return s;
    }
    if x == 0.0 {
        return m;
    }
    x * (x / m).ln() + m - x
}

/// ln of the binomial probability of x successes in n trials of
/// probability p (q = 1 - p), Loader's form.
fn ln_binomial(x: f64, n: f64, p: f64, q: f64) -> f64 {
    if p == 0.0 {
        return if x == 0.0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if q == 0.0 {
        return if x == n { 0.0 } else { f64::NEG_INFINITY };
    }
    if x == 0.0 {
        if n == 0.0 {
            return 0.0;
        }
        return if p < 0.1 {
            -deviance(n, n * q) - n * p
        } else {
            n * q.ln()
        };
    }
    if x == n {
        return if q < 0.1 {
            -deviance(n, n * p) - n * q
        } else {
            n * p.ln()
        };
    }
    if x < 0.0 || x > n {
        return f64::NEG_INFINITY;
    }
    let lc = stirling_error(n)
        - stirling_error(x)
        - stirling_error(n - x)
        - deviance(x, n * p)
        - deviance(n - x, n * q);
    let lf = (2.0 * std::f64::consts::PI).ln() + x.ln() + (-x / n).ln_1p();
    lc - 0.5 * lf
}

/// A hypergeometric distribution: `draws` taken without replacement from
/// `total` items of which `successes` are successes.
#[derive(Debug, Clone, Copy)]
pub struct Hypergeometric {
    pub total: u64,
    pub successes: u64,
    pub draws: u64,
}

impl Hypergeometric {
    fn support(&self) -> (u64, u64) {
        let failures = self.total - self.successes;
        (
            self.draws.saturating_sub(failures),
            self.successes.min(self.draws),
        )
    }

    /// ln P(X = x) (R's dhyper).
    pub fn ln_pmf(&self, x: u64) -> f64 {
        let (lo, hi) = self.support();
        if x < lo || x > hi {
            return f64::NEG_INFINITY;
        }
        let (r, b, n) = (
            self.successes as f64,
            (self.total - self.successes) as f64,
            self.draws as f64,
        );
        let x = x as f64;
        if n == 0.0 {
            return 0.0;
        }
        let p = n / (r + b);
        let q = (r + b - n) / (r + b);
        ln_binomial(x, r, p, q) + ln_binomial(n - x, b, p, q) - ln_binomial(n, r + b, p, q)
    }

    /// P(X = y + 1) / P(X = y).
    fn ratio_up(&self, y: u64) -> f64 {
        let (k, n, f) = (
            self.successes as f64,
            self.draws as f64,
            (self.total - self.successes) as f64,
        );
        let y = y as f64;
        (k - y) * (n - y) / ((y + 1.0) * (f - n + y + 1.0))
    }

    /// P(X >= x) summed from x upward, or P(X <= x) summed from x downward.
    fn tail_from(&self, x: u64, upward: bool) -> f64 {
        let (lo, hi) = self.support();
        let mut term = self.ln_pmf(x).exp();
        let mut sum = term;
        let mut y = x;
        loop {
            if upward {
                if y >= hi {
                    break;
                }
                term *= self.ratio_up(y);
                y += 1;
            } else {
                if y <= lo {
                    break;
                }
                term /= self.ratio_up(y - 1);
                y -= 1;
            }
            let next = sum + term;
            if next == sum || term == 0.0 {
                break;
            }
            sum = next;
        }
        sum
    }

    fn mode(&self) -> u64 {
        let m = ((self.draws as f64 + 1.0) * (self.successes as f64 + 1.0)
            / (self.total as f64 + 2.0))
            .floor() as u64;
        let (lo, hi) = self.support();
        m.clamp(lo, hi)
    }

    /// P(X >= x): the far tail summed directly, a tail holding the mode as
    /// one minus the other.
    pub fn upper_tail(&self, x: u64) -> f64 {
        let (lo, hi) = self.support();
        if x <= lo {
            return 1.0;
        }
        if x > hi {
            return 0.0;
        }
        if x > self.mode() {
            self.tail_from(x, true).min(1.0)
        } else {
            (1.0 - self.tail_from(x - 1, false)).clamp(0.0, 1.0)
        }
    }
}

/// Fisher's exact test of a 2x2 table `[[a, b], [c, d]]`, one-sided
/// `greater` (more of `a` than the margins lead one to expect), as
/// scipy.stats.fisher_exact: the sample odds ratio a d / (b c) (infinite
/// when b c = 0) and the p-value; a table with an empty row or column has
/// odds ratio NaN and p-value 1.
pub fn fisher_exact_greater(table: [[u64; 2]; 2]) -> (f64, f64) {
    let [[a, b], [c, d]] = table;
    if a + b == 0 || c + d == 0 || a + c == 0 || b + d == 0 {
        return (f64::NAN, 1.0);
    }
    let odds = if b > 0 && c > 0 {
        (a as f64 * d as f64) / (c as f64 * b as f64)
    } else {
        f64::INFINITY
    };
    let h = Hypergeometric {
        total: a + b + c + d,
        successes: a + b,
        draws: a + c,
    };
    (odds, h.upper_tail(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact probabilities by brute-force binomial coefficients.
    fn exact_pmf(h: Hypergeometric, x: u64) -> f64 {
        fn choose(n: u64, k: u64) -> f64 {
            if k > n {
                return 0.0;
            }
            (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
        }
        choose(h.successes, x) * choose(h.total - h.successes, h.draws - x)
            / choose(h.total, h.draws)
    }

    #[test]
    fn probabilities_match_binomial_coefficients() {
        for h in [
            Hypergeometric {
                total: 50,
                successes: 20,
                draws: 15,
            },
            Hypergeometric {
                total: 30,
                successes: 29,
                draws: 4,
            },
            Hypergeometric {
                total: 12,
                successes: 0,
                draws: 5,
            },
        ] {
            let (lo, hi) = h.support();
            let mut total = 0.0;
            for x in lo..=hi {
                let want = exact_pmf(h, x);
                let got = h.ln_pmf(x).exp();
                assert!((got - want).abs() <= 1e-13 * want.max(1e-300), "{h:?} {x}");
                total += want;
                let tail: f64 = (x..=hi).map(|y| exact_pmf(h, y)).sum();
                assert!((h.upper_tail(x) - tail).abs() < 1e-12, "{h:?} tail {x}");
            }
            assert!((total - 1.0).abs() < 1e-12);
        }
    }

    /// Values of scipy 1.10's fisher_exact(alternative='greater').
    #[test]
    fn fisher_exact_as_scipy() {
        let (odds, p) = fisher_exact_greater([[8, 2], [1, 5]]);
        assert!((odds - 20.0).abs() < 1e-12);
        assert!((p - 0.024_475_524_475_524_483).abs() < 1e-12, "{p}");
        let (odds, p) = fisher_exact_greater([[0, 5], [0, 7]]);
        assert!(odds.is_nan() && p == 1.0);
        let (odds, p) = fisher_exact_greater([[3, 0], [2, 9]]);
        assert!(odds.is_infinite());
        assert!((p - 0.027_472_527_472_527_48).abs() < 1e-12, "{p}");
    }

    /// Tables of ten million pairs, as an enrichment of all pairs of a
    /// plate gives: the tails summed exactly (mpmath, 40 digits) to 1e-12,
    /// and scipy 1.10's fisher_exact, which is itself off by up to 1.1e-9
    /// relative here, to 1e-8.
    #[test]
    fn large_tables_exact_and_as_scipy() {
        for (table, exact, scipy) in [
            (
                [[1_000, 99_000], [99_000, 9_801_000]],
                0.504_331_814_813_601_3,
                0.504_331_814_660_978_4,
            ),
            (
                [[1_200, 98_800], [98_800, 9_801_200]],
                3.096_766_049_467_971_4e-10,
                3.096_766_045_922_759e-10,
            ),
            (
                [[1_100, 98_900], [98_900, 9_801_100]],
                0.000_863_174_834_514_578_9,
                0.000_863_174_834_614_164_9,
            ),
            (
                [[950, 99_050], [99_050, 9_800_950]],
                0.947_546_362_001_983_8,
                0.947_546_362_027_800_7,
            ),
        ] {
            let (_, p) = fisher_exact_greater(table);
            assert!(
                (p - exact).abs() <= 1e-12 * exact,
                "{table:?}: {p} against {exact}"
            );
            assert!(
                (p - scipy).abs() <= 1e-8 * scipy,
                "{table:?}: {p} against scipy's {scipy}"
            );
        }
        let (odds, p) = fisher_exact_greater([[5_000, 95_000], [45_000, 9_855_000]]);
        assert!((odds - 11.526_315_789_473_685).abs() < 1e-12);
        // The exact tail is 1.5e-3185, below the smallest double.
        assert_eq!(p, 0.0);
    }
}
