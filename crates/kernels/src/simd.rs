//! Inner loops compiled for AVX2 + FMA when the processor has them.
//!
//! The crate is built for baseline x86-64 (SSE2) so that its binaries run
//! anywhere; these loops are compiled a second time with AVX2 and FMA
//! enabled and picked at run time. Each is a plain elementwise loop, so the
//! two versions give the same numbers: `mul_add` is a fused multiply-add in
//! both (hardware in one, libm's exact `fma` in the other).

/// `acc[k] += a * x[k]`, with `x` widened to f64.
#[inline]
pub fn axpy_f32_into_f64(acc: &mut [f64], a: f64, x: &[f32]) {
    assert_eq!(acc.len(), x.len(), "axpy lengths");
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the processor supports AVX2 and FMA (checked above).
            unsafe { axpy_f32_into_f64_avx2(acc, a, x) };
            return;
        }
    }
    axpy_f32_into_f64_portable(acc, a, x);
}

#[inline(always)]
fn axpy_f32_into_f64_portable(acc: &mut [f64], a: f64, x: &[f32]) {
    for (s, v) in acc.iter_mut().zip(x) {
        *s = (*v as f64).mul_add(a, *s);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_f32_into_f64_avx2(acc: &mut [f64], a: f64, x: &[f32]) {
    axpy_f32_into_f64_portable(acc, a, x);
}

/// `acc[k] += a * x[k]` in f64.
#[inline]
pub fn axpy_f64(acc: &mut [f64], a: f64, x: &[f64]) {
    assert_eq!(acc.len(), x.len(), "axpy lengths");
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the processor supports AVX2 and FMA (checked above).
            unsafe { axpy_f64_avx2(acc, a, x) };
            return;
        }
    }
    axpy_f64_portable(acc, a, x);
}

#[inline(always)]
fn axpy_f64_portable(acc: &mut [f64], a: f64, x: &[f64]) {
    for (s, v) in acc.iter_mut().zip(x) {
        *s = v.mul_add(a, *s);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_f64_avx2(acc: &mut [f64], a: f64, x: &[f64]) {
    axpy_f64_portable(acc, a, x);
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
            let x64: Vec<f64> = x32.iter().map(|v| *v as f64 * 1.1).collect();
            let start: Vec<f64> = (0..n).map(|k| (k as f64 * 0.11).cos()).collect();
            let a = 0.123_456_789_f64;
            let (mut got, mut want) = (start.clone(), start.clone());
            axpy_f32_into_f64(&mut got, a, &x32);
            axpy_f32_into_f64_portable(&mut want, a, &x32);
            assert_eq!(got, want, "f32 n={n}");
            for k in 0..n {
                let by_hand = start[k] + a * x32[k] as f64;
                assert!((got[k] - by_hand).abs() < 1e-15, "n={n} k={k}");
            }
            let (mut got, mut want) = (start.clone(), start);
            axpy_f64(&mut got, a, &x64);
            axpy_f64_portable(&mut want, a, &x64);
            assert_eq!(got, want, "f64 n={n}");
        }
    }
}
