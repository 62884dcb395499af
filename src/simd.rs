//! Run-time choice of vector width for hand-written kernels, in one place.
//!
//! recsweep builds for baseline x86-64 so one binary runs everywhere; its
//! hot loops are written as plain, vectorisable Rust (`#[inline(always)]`)
//! and [`dispatch!`] compiles each one twice more, for AVX-512F and for AVX2
//! (with FMA off, so the arithmetic, and the bits, are the same on every
//! path), choosing the widest the CPU has when called. Writing this by hand
//! rather than with a crate (multiversion, pulp) keeps the build small and
//! the three variants visible: each needs only `#[target_feature]`.

/// Which compiled variant a dispatched kernel runs on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Avx512,
    Avx2,
    Portable,
}

/// The widest vector level this CPU supports (detection is cached by std).
pub fn level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Level::Avx2;
        }
    }
    Level::Portable
}

/// Defines `fn NAME[GENERICS](ARGS) -> RET` that runs `BODY(ARGS)` compiled
/// for the widest vector level this CPU has ([`level`]). `BODY` must be
/// `#[inline(always)]` so that each variant compiles its own copy.
///
/// ```text
/// recsweep::dispatch! {
///     pub fn exp_in_place(xs: &mut [f64]) => exp_portable
/// }
/// ```
#[macro_export]
macro_rules! dispatch {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $([$($generics:tt)*])? ($($arg:ident : $ty:ty),* $(,)?)
            $(-> $ret:ty)? => $body:path
    ) => {
        $(#[$meta])*
        $vis fn $name $(<$($generics)*>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512 $(<$($generics)*>)? ($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2 $(<$($generics)*>)? ($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                match $crate::simd::level() {
                    // SAFETY: level() found AVX-512F on this CPU.
                    $crate::simd::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: level() found AVX2 on this CPU.
                    $crate::simd::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::simd::Level::Portable => {}
                }
            }
            $body($($arg),*)
        }
    };
}

crate::dispatch! {
    /// e^x for every x ≤ 0 of a slice, in place, within 1e-15 relative of
    /// `f64::exp`. Written out because the softmax and the synthetic generator
    /// spend most of their time in exp and libm's is scalar; this body is branch-free so the compiler
    /// vectorises it (AVX-512/AVX2 chosen at run time). x = k·ln 2 + r with
    /// |r| ≤ ln 2 / 2 (Cody–Waite, ln 2 split in two), e^r by its Taylor series
    /// to r¹³/13!, 2^k written into the exponent bits; below −708 (where 2^k
    /// would be subnormal) the result is 0, which a softmax over values whose
    /// maximum is 0 cannot tell from the true e^x < 1e-307.
    pub fn exp_in_place(xs: &mut [f64]) => exp_portable
}

#[inline(always)]
fn exp_portable(xs: &mut [f64]) {
    // ln 2 = LN2_HI + LN2_LO, the high part with trailing zero bits so that
    // k·LN2_HI is exact (fdlibm's split).
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    // 1.5·2^52: adding and subtracting it rounds to the nearest integer,
    // and after adding it the low mantissa bits hold that integer.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    for x in xs.iter_mut() {
        let y = x.max(-708.0);
        let shifted = y * std::f64::consts::LOG2_E + ROUND;
        let k = shifted - ROUND;
        let r = (y - k * LN2_HI) - k * LN2_LO;
        let mut poly = 1.0 / 6_227_020_800.0;
        for c in [
            1.0 / 479_001_600.0,
            1.0 / 39_916_800.0,
            1.0 / 3_628_800.0,
            1.0 / 362_880.0,
            1.0 / 40_320.0,
            1.0 / 5_040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            poly = poly * r + c;
        }
        // The integer k sits in the low bits of `shifted` (two's
        // complement within the 51-bit field); add the bias and move it
        // into the exponent field.
        let bits = (shifted.to_bits().wrapping_add(1023)) << 52;
        let scale = f64::from_bits(bits);
        *x = if *x < -708.0 { 0.0 } else { poly * scale };
    }
}

crate::dispatch! {
    /// e^x for every x ≤ 0 of an f32 slice, in place, within 2e-7 relative
    /// of the exact value: f32 training's softmax. The same scheme as
    /// [`exp_in_place`] in single precision (ln 2 split for f32, the Taylor
    /// series to r⁷/7!, whose remainder 5e-9 is below f32's rounding), and
    /// 0 below −87 where 2^k would be subnormal.
    pub fn exp_in_place_f32(xs: &mut [f32]) => exp_portable_f32
}

#[inline(always)]
fn exp_portable_f32(xs: &mut [f32]) {
    // ln 2 = LN2_HI + LN2_LO with LN2_HI's low 12 bits zero, so k·LN2_HI is
    // exact for |k| < 2^12.
    const LN2_HI: f32 = f32::from_bits(0x3f31_7000);
    const LN2_LO: f32 = 3.194_618_5e-5;
    // 1.5·2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    for x in xs.iter_mut() {
        let y = x.max(-87.0);
        let shifted = y * std::f32::consts::LOG2_E + ROUND;
        let k = shifted - ROUND;
        let r = (y - k * LN2_HI) - k * LN2_LO;
        let mut poly = 1.0 / 5_040.0;
        for c in [
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            poly = poly * r + c;
        }
        let bits = (shifted.to_bits().wrapping_add(127)) << 23;
        let scale = f32::from_bits(bits);
        *x = if *x < -87.0 { 0.0 } else { poly * scale };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_in_place_matches_std_exp() {
        let mut xs: Vec<f64> = (0..=20_000)
            .map(|k| -708.0 * f64::from(k) / 20_000.0)
            .collect();
        xs.extend([0.0, -1e-300, -0.5 * std::f64::consts::LN_2, -707.999]);
        let expected: Vec<f64> = xs.iter().map(|x| x.exp()).collect();
        exp_in_place(&mut xs);
        for (got, want) in xs.iter().zip(&expected) {
            assert!(
                ((got - want) / want).abs() < 1e-15,
                "exp: got {got}, want {want}"
            );
        }
        let mut tail = [-708.5, -1e4, f64::NEG_INFINITY];
        exp_in_place(&mut tail);
        assert_eq!(tail, [0.0; 3]);
    }

    #[test]
    fn exp_in_place_f32_matches_f64_exp() {
        let mut xs: Vec<f32> = (0..=20_000).map(|k| -87.0 * k as f32 / 20_000.0).collect();
        xs.extend([0.0, -1e-30, -0.5 * std::f32::consts::LN_2, -86.999]);
        let expected: Vec<f64> = xs.iter().map(|&x| f64::from(x).exp()).collect();
        exp_in_place_f32(&mut xs);
        for (got, want) in xs.iter().zip(&expected) {
            let rel = ((f64::from(*got) - want) / want).abs();
            assert!(rel < 2e-7, "exp: got {got}, want {want}, relative {rel}");
        }
        let mut tail = [-87.5f32, -1e4, f32::NEG_INFINITY];
        exp_in_place_f32(&mut tail);
        assert_eq!(tail, [0.0; 3]);
    }
}
