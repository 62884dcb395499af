//! Seed mixing shared by every seeded stream, so that per-user, per-chunk and
//! per-trial generators are independent of each other and of thread counts.

/// SplitMix64's finaliser: a bijective 64-bit mix with good avalanche, used to
/// derive independent seeds from (seed, index) pairs.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
