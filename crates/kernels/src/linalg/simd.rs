//! Inner loops compiled for AVX2 + FMA when the processor has them.
//!
//! The crate is built for baseline x86-64 (SSE2) so that its binaries run
//! anywhere; [`avx2_dispatch!`] compiles a loop a second time with AVX2 and
//! FMA enabled and picks it at run time. `mul_add` is a fused multiply-add
//! in both copies (hardware in one, libm's exact `fma` in the other), so the
//! two give the same numbers.

/// Defines `fn name(args) -> ret { body }` compiled twice, as written and
/// with AVX2 + FMA enabled, and picks the second at run time when the
/// processor has both. The body is inlined into each, so plain loops in it
/// vectorise for AVX2; it must not depend on which copy runs (no
/// `mul_add`-or-not choices), so the two give the same numbers. One type
/// parameter with a bound is allowed.
macro_rules! avx2_dispatch {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $(<$g:ident: $bound:path>)? ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?
        $body:block
    ) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn portable $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx2 $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
                portable($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::linalg::simd::has_avx2_fma() {
                // SAFETY: the processor supports AVX2 and FMA (checked above).
                return unsafe { avx2($($arg),*) };
            }
            portable($($arg),*)
        }
    };
}
pub(crate) use avx2_dispatch;

avx2_dispatch! {
    /// `acc[k] += a * x[k]`, with `x` widened to f64.
    pub fn axpy_f32_into_f64(acc: &mut [f64], a: f64, x: &[f32]) {
        assert_eq!(acc.len(), x.len(), "axpy lengths");
        for (s, v) in acc.iter_mut().zip(x) {
            *s = (*v as f64).mul_add(a, *s);
        }
    }
}

/// Whether the AVX2 + FMA versions of loops can run here.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatched_and_portable_loops_agree_bit_for_bit() {
        // Lengths around the vector widths, values with rounding to do.
        for n in [0usize, 1, 3, 4, 7, 8, 9, 31, 256, 257] {
            let x32: Vec<f32> = (0..n).map(|k| (k as f32 * 0.37).sin() / 3.0).collect();
            let start: Vec<f64> = (0..n).map(|k| (k as f64 * 0.11).cos()).collect();
            let a = 0.123_456_789_f64;
            let (mut got, mut want) = (start.clone(), start.clone());
            axpy_f32_into_f64(&mut got, a, &x32);
            for (w, v) in want.iter_mut().zip(&x32) {
                *w = (*v as f64).mul_add(a, *w);
            }
            assert_eq!(got, want, "f32 n={n}");
            for k in 0..n {
                let by_hand = start[k] + a * x32[k] as f64;
                assert!((got[k] - by_hand).abs() < 1e-15, "n={n} k={k}");
            }
        }
    }
}
