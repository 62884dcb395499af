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
