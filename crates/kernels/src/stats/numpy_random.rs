//! numpy's default random stream, draw for draw: `np.random.default_rng(seed)`
//! (SeedSequence -> PCG64, XSL-RR 128/64) and the few `Generator` methods the
//! reference tools draw their nulls with, so that pertbench reproduces their
//! p-values exactly rather than in distribution. copairs' mAP null is
//! `default_rng(seed).integers(8096, size)` for the per-configuration seeds
//! and `permuted` (a Fisher-Yates shuffle per row, `random_interval`
//! draws) for the rank lists.
//!
//! cytominer-eval draws its mp-value permutations from numpy's legacy global
//! generator (`np.random.permutation`, MT19937 seeded by `np.random.seed`):
//! [`LegacyRandomState`] reproduces it.
//!
//! Checked against numpy 2 (`crates/cli/tests/map`, and the vectors in this
//! file's tests, which numpy printed).

const MULT: u128 = 0x2360_ED05_1FC6_5DA4_4385_DF64_9FCC_F645;

// SeedSequence's hash constants (numpy/random/bit_generator.pyx).
const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const POOL: usize = 4;

/// `SeedSequence(seed).generate_state(n_words)` for a non-negative integer
/// seed (no spawn key, the default pool of four words).
pub fn seed_sequence_state(seed: u64, n_words: usize) -> Vec<u32> {
    let entropy: Vec<u32> = if seed == 0 {
        vec![0]
    } else if seed >> 32 == 0 {
        vec![seed as u32]
    } else {
        vec![seed as u32, (seed >> 32) as u32]
    };
    let mut hash_const = INIT_A;
    let mut hashmix = |value: u32| -> u32 {
        let mut v = value ^ hash_const;
        hash_const = hash_const.wrapping_mul(MULT_A);
        v = v.wrapping_mul(hash_const);
        v ^ (v >> 16)
    };
    let mix = |x: u32, y: u32| -> u32 {
        let r = MIX_MULT_L
            .wrapping_mul(x)
            .wrapping_sub(MIX_MULT_R.wrapping_mul(y));
        r ^ (r >> 16)
    };
    let mut pool = [0u32; POOL];
    for (i, p) in pool.iter_mut().enumerate() {
        *p = hashmix(entropy.get(i).copied().unwrap_or(0));
    }
    for src in 0..POOL {
        for dst in 0..POOL {
            if src != dst {
                let h = hashmix(pool[src]);
                pool[dst] = mix(pool[dst], h);
            }
        }
    }
    for &e in entropy.iter().skip(POOL) {
        for p in pool.iter_mut() {
            let h = hashmix(e);
            *p = mix(*p, h);
        }
    }
    let mut hash_const = INIT_B;
    (0..n_words)
        .map(|i| {
            let mut v = pool[i % POOL] ^ hash_const;
            hash_const = hash_const.wrapping_mul(MULT_B);
            v = v.wrapping_mul(hash_const);
            v ^ (v >> 16)
        })
        .collect()
}

/// numpy's PCG64 bit generator with its 32-bit buffer (`next_uint32` hands
/// out the low half of a 64-bit draw and keeps the high half for the next
/// call).
#[derive(Debug, Clone)]
pub struct Pcg64 {
    state: u128,
    inc: u128,
    half: Option<u32>,
}

impl Pcg64 {
    /// The generator of `np.random.default_rng(seed)`.
    pub fn default_rng(seed: u64) -> Pcg64 {
        let w = seed_sequence_state(seed, 8);
        let word = |i: usize| u64::from(w[2 * i]) | (u64::from(w[2 * i + 1]) << 32);
        let init_state = (u128::from(word(0)) << 64) | u128::from(word(1));
        let init_seq = (u128::from(word(2)) << 64) | u128::from(word(3));
        let mut g = Pcg64 {
            state: 0,
            inc: (init_seq << 1) | 1,
            half: None,
        };
        g.step();
        g.state = g.state.wrapping_add(init_state);
        g.step();
        g
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(MULT).wrapping_add(self.inc);
    }

    /// `bit_generator.random_raw()`.
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let s = self.state;
        let x = ((s >> 64) as u64) ^ (s as u64);
        x.rotate_right((s >> 122) as u32)
    }

    /// numpy's `next_uint32`.
    pub fn next_u32(&mut self) -> u32 {
        if let Some(h) = self.half.take() {
            return h;
        }
        let n = self.next_u64();
        self.half = Some((n >> 32) as u32);
        n as u32
    }

    /// `integers(high)` for `0 < high <= 2^32` (default int64 dtype): Lemire's
    /// bounded draw on 32-bit words, as `random_bounded_uint64_fill` takes
    /// it for ranges that fit 32 bits.
    pub fn integers_below(&mut self, high: u64) -> u64 {
        assert!(high > 0 && high <= 1 << 32, "integers_below({high})");
        let rng = (high - 1) as u32;
        if rng == 0 {
            return 0;
        }
        if rng == u32::MAX {
            return u64::from(self.next_u32());
        }
        let excl = u64::from(rng) + 1;
        let mut m = u64::from(self.next_u32()) * excl;
        let mut leftover = m as u32;
        if u64::from(leftover) < excl {
            let threshold = ((u32::MAX - rng) as u64 % excl) as u32;
            while leftover < threshold {
                m = u64::from(self.next_u32()) * excl;
                leftover = m as u32;
            }
        }
        m >> 32
    }

    /// numpy's `random_interval(max)`: a draw in `0..=max` by masking and
    /// rejection (the draw `shuffle` and `permuted` swap with).
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = u64::MAX >> max.leading_zeros();
        if max <= u64::from(u32::MAX) {
            loop {
                let v = u64::from(self.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let v = self.next_u64() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// Shuffles `data` in place as `Generator.shuffle` / `permuted` shuffle
    /// one row: for i from the last index down to 1, swap with a draw in
    /// `0..=i`.
    pub fn shuffle<T>(&mut self, data: &mut [T]) {
        for i in (1..data.len()).rev() {
            let j = self.interval(i as u64) as usize;
            data.swap(i, j);
        }
    }
}

/// numpy's sum of floats along a contiguous axis (`pairwise_sum`: eight
/// running sums within blocks of at most 128, halves above), so that sums
/// round as numpy's do.
fn pairwise_sum<T: Copy + Default + std::ops::Add<Output = T>>(a: &[T]) -> T {
    let n = a.len();
    if n < 8 {
        a.iter().fold(T::default(), |r, &x| r + x)
    } else if n <= 128 {
        let mut r = [T::default(); 8];
        r.copy_from_slice(&a[..8]);
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for j in 0..8 {
                r[j] = r[j] + a[i + j];
            }
            i += 8;
        }
        let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        a[whole..].iter().fold(res, |r, &x| r + x)
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

/// numpy's float32 sum (see [`pairwise_sum`]).
pub fn pairwise_sum_f32(a: &[f32]) -> f32 {
    pairwise_sum(a)
}

/// numpy's float64 sum (see [`pairwise_sum`]).
pub fn pairwise_sum_f64(a: &[f64]) -> f64 {
    pairwise_sum(a)
}

/// numpy's legacy `RandomState` (MT19937) as `np.random.seed(seed)` seeds
/// it, with the `permutation` of a 1-d array (a Fisher-Yates shuffle from
/// the end, each index drawn by the legacy masked rejection).
pub struct LegacyRandomState {
    key: [u32; 624],
    pos: usize,
}

impl LegacyRandomState {
    /// `np.random.seed(seed)` (numpy refuses seeds of 2^32 and above).
    pub fn seed(seed: u32) -> LegacyRandomState {
        let mut key = [0u32; 624];
        let mut s = seed;
        for (pos, k) in key.iter_mut().enumerate() {
            *k = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        LegacyRandomState { key, pos: 624 }
    }

    fn generate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..624 {
            let y = (self.key[i] & UPPER) | (self.key[(i + 1) % 624] & LOWER);
            let mut v = self.key[(i + 397) % 624] ^ (y >> 1);
            if y & 1 == 1 {
                v ^= MATRIX_A;
            }
            self.key[i] = v;
        }
        self.pos = 0;
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.pos == 624 {
            self.generate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A uniform integer in [0, max] (legacy `random_interval`, for max <
    /// 2^32: 32-bit draws masked to max's bits until one is at most max).
    pub fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `np.random.shuffle` of a 1-d array (as `np.random.permutation` of a
    /// copy), for arrays shorter than 2^32.
    pub fn shuffle<T>(&mut self, data: &mut [T]) {
        for i in (1..data.len()).rev() {
            let j = self.interval(i as u32) as usize;
            data.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors printed by numpy 2.4.6:
    //   np.random.SeedSequence(42).generate_state(8)
    //   np.random.default_rng(42).bit_generator.random_raw(3)
    //   np.random.default_rng(7).integers(8096, size=10)
    //   a = np.tile(np.arange(10, dtype=np.uint16), (4, 1))
    //   np.random.default_rng(3).permuted(a, axis=1, out=a)
    #[test]
    fn draws_are_numpys() {
        assert_eq!(
            seed_sequence_state(42, 8),
            vec![
                3444837047, 2669555309, 2046530742, 3581440988, 1691623607, 2099784219, 1184028159,
                862288241
            ]
        );
        let mut g = Pcg64::default_rng(42);
        let raw: Vec<u64> = (0..3).map(|_| g.next_u64()).collect();
        assert_eq!(
            raw,
            vec![
                14276969152011380360,
                8095878257575067585,
                15838336090824644132
            ]
        );
        let mut g = Pcg64::default_rng(7);
        let ints: Vec<u64> = (0..10).map(|_| g.integers_below(8096)).collect();
        assert_eq!(
            ints,
            vec![7649, 5060, 5539, 7263, 4681, 6279, 6749, 1823, 449, 2430]
        );
        let mut g = Pcg64::default_rng(3);
        let rows: Vec<Vec<u16>> = (0..4)
            .map(|_| {
                let mut r: Vec<u16> = (0..10).collect();
                g.shuffle(&mut r);
                r
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                vec![9, 6, 0, 2, 1, 4, 7, 5, 3, 8],
                vec![7, 4, 3, 5, 0, 8, 9, 6, 1, 2],
                vec![4, 5, 3, 8, 6, 2, 1, 7, 9, 0],
                vec![2, 4, 0, 7, 6, 1, 3, 9, 8, 5],
            ]
        );
    }

    #[test]
    fn seeds_above_32_bits_take_two_words() {
        // np.random.SeedSequence(2**40 + 5).generate_state(2)
        assert_eq!(
            seed_sequence_state((1 << 40) + 5, 2),
            vec![3767146251, 3672381269]
        );
    }

    #[test]
    fn pairwise_sums_split_as_numpys() {
        // Eight running sums from 8 terms on; halves (on a multiple of 8)
        // above 128 terms.
        let a: Vec<f32> = (0..300).map(|i| 1.0 + (i as f32) * 1e-3).collect();
        let mut r = [0.0f32; 8];
        r.copy_from_slice(&a[..8]);
        for i in (8..16).step_by(8) {
            for j in 0..8 {
                r[j] += a[i + j];
            }
        }
        let want = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])) + a[16];
        assert_eq!(pairwise_sum_f32(&a[..17]), want);
        assert_eq!(
            pairwise_sum_f32(&a),
            pairwise_sum_f32(&a[..144]) + pairwise_sum_f32(&a[144..])
        );
        assert_eq!(pairwise_sum_f64(&[1.0, 2.0, 3.0]), 6.0);
    }

    /// Vectors numpy printed: np.random.seed(s); np.random.permutation(...).
    #[test]
    fn legacy_random_state_as_numpy() {
        let mut r = LegacyRandomState::seed(0);
        assert_eq!(
            [r.next_u32(), r.next_u32(), r.next_u32()],
            [2_357_136_044, 2_546_248_239, 3_071_714_933]
        );
        let mut r = LegacyRandomState::seed(0);
        let mut v: Vec<u32> = (0..10).collect();
        r.shuffle(&mut v);
        assert_eq!(v, [2, 8, 4, 9, 1, 6, 7, 3, 0, 5]);
        let mut r = LegacyRandomState::seed(12345);
        let want = [
            [0, 0, 0, 1, 1, 0, 1],
            [0, 1, 0, 1, 1, 0, 0],
            [0, 1, 1, 0, 0, 0, 1],
        ];
        for w in want {
            let mut m = [1, 1, 1, 0, 0, 0, 0];
            r.shuffle(&mut m);
            assert_eq!(m, w);
        }
        let mut r = LegacyRandomState::seed(u32::MAX);
        let mut v: Vec<u32> = (0..300).collect();
        r.shuffle(&mut v);
        assert_eq!(v[..8], [110, 21, 54, 6, 19, 166, 190, 59]);
    }
}
