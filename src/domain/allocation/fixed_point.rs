//! The degressive population transform, population^k, in integers only.
//!
//! The weight is `population^k · 2^20` truncated: never above the exact value, and below it by
//! less than one unit plus 10^-12 of it. It is computed as `2^(k · log2 population)` with
//! fixed-point numbers and no floating point at all, so every platform gets the same integer. The steps, each monotone non-decreasing in its input:
//!
//! 1. `log2 p` with 48 fractional bits: the integer part is the position of
//!    the highest set bit; the fraction comes bit by bit from squaring the mantissa m ∈ [1, 2)
//!    (a square ≥ 2 means the next bit is 1, and the mantissa is halved).
//! 2. `y = floor(log2 p · k_micro / 10^6)`, k in millionths.
//! 3. `2^y`: `2^⌊y⌋` is a shift; `2^frac(y)` is the product of the constants `2^(2^-j)` for the
//!    set bits j of the fraction. The constants come from repeated integer square roots of 2,
//!    built at compile time, and are multiplied ahead eight bits at a time into six tables of
//!    256, so that the fraction takes six multiplications.
//!
//! Why the result is monotone in the population: in step 1 two mantissas in order stay in order
//! through a truncated squaring and through halving, and the first bit where their logarithms
//! differ is 1 for the larger, which outweighs all later bits. Steps 2 and the final shift are
//! floors of monotone functions. In step 3 every constant and every product is truncated, so the
//! computed `2^f` lies in `[2^f − E, 2^f]` with E about a hundred units of the 62-bit mantissa,
//! while two fractions one unit of 2^-48 apart differ in `2^f` by at least `ln 2 · 2^14` units:
//! the truncation can never swap two of them (nor reach 2 at the top of a binade). The tests
//! check this where it is tightest, at the carries between the tables' bytes.

/// Degressive weights are scaled by 2^20: a population of 1 weighs exactly 2^20.
pub const WEIGHT_SCALE_BITS: u32 = 20;
/// Exponents are applied in millionths.
pub const EXPONENT_SCALE: u32 = 1_000_000;

/// Fractional bits of the mantissas (values in [1, 2) are below 2^63, so a product fits u128).
const MANTISSA_BITS: u32 = 62;
/// Fractional bits of the logarithms.
const LOG_FRACTION_BITS: u32 = 48;

/// `2^(2^-(j+1))` with 62 fractional bits, truncated: √2, ⁴√2, ⁸√2, …
const EXP2_CONSTANTS: [u64; LOG_FRACTION_BITS as usize] = exp2_constants();

const fn exp2_constants() -> [u64; LOG_FRACTION_BITS as usize] {
    let mut table = [0u64; LOG_FRACTION_BITS as usize];
    // 2 in fixed point; each step takes the square root: √(c · 2^62) = √(c / 2^62) · 2^62.
    let mut c: u128 = 2 << MANTISSA_BITS;
    let mut j = 0;
    while j < table.len() {
        c = (c << MANTISSA_BITS).isqrt();
        table[j] = c as u64;
        j += 1;
    }
    table
}

/// `2^(b / 2^(8(c+1)))` for each byte b of the fraction's bytes c = 0 (the top byte) to 5: the
/// truncated product of the constants for the set bits of b, so that `2^f` takes six
/// multiplications rather than one for each set bit.
const EXP2_BYTES: [[u64; 256]; (LOG_FRACTION_BITS / 8) as usize] = exp2_bytes();

const fn exp2_bytes() -> [[u64; 256]; (LOG_FRACTION_BITS / 8) as usize] {
    let mut tables = [[0u64; 256]; (LOG_FRACTION_BITS / 8) as usize];
    let mut chunk = 0;
    while chunk < tables.len() {
        let mut byte = 0;
        while byte < 256 {
            let mut p: u64 = 1 << MANTISSA_BITS;
            let mut bit = 0;
            while bit < 8 {
                // Bit 7 of the byte is the fraction's bit 8·chunk + 1 from the top: 2^(2^-(8·chunk+1)).
                if byte & (0x80 >> bit) != 0 {
                    let c = EXP2_CONSTANTS[8 * chunk + bit];
                    p = ((p as u128 * c as u128) >> MANTISSA_BITS) as u64;
                }
                bit += 1;
            }
            tables[chunk][byte] = p;
            byte += 1;
        }
        chunk += 1;
    }
    tables
}

/// The exponent as applied: `round(exponent · 10^6)`, for 0 < exponent ≤ 1; `None` otherwise.
///
/// This is the one place the engine touches floating point, and it is exact IEEE arithmetic
/// (one multiplication, one rounding), the same on every platform.
pub fn exponent_micro(exponent: f64) -> Option<u32> {
    if exponent.is_finite() && exponent > 0.0 && exponent <= 1.0 {
        Some((exponent * f64::from(EXPONENT_SCALE)).round() as u32)
    } else {
        None
    }
}

/// `population^(exponent_micro / 10^6)` scaled by 2^20 and truncated (see the module comment for
/// the precision): 0 for a population of 0, 2^20 for 1, `population · 2^20` exactly for k = 1.
///
/// Monotone non-decreasing in `population`. An `exponent_micro` above 10^6 counts as 10^6.
pub fn degressive_weight(population: u32, exponent_micro: u32) -> u64 {
    debug_assert!(exponent_micro <= EXPONENT_SCALE);
    let k = exponent_micro.min(EXPONENT_SCALE);
    if population == 0 {
        return 0;
    }
    if k == EXPONENT_SCALE {
        return u64::from(population) << WEIGHT_SCALE_BITS;
    }
    // log2 p < 32 · 2^48 and k ≤ 10^6 < 2^20: the product is below 2^73.
    let y = u128::from(log2_fixed(population)) * u128::from(k) / u128::from(EXPONENT_SCALE);
    exp2_scaled(y)
}

/// `log2 x` with [`LOG_FRACTION_BITS`] fractional bits, for x ≥ 1.
fn log2_fixed(x: u32) -> u64 {
    debug_assert!(x >= 1);
    let e = 31 - x.leading_zeros(); // ⌊log2 x⌋
    // The mantissa x / 2^e ∈ [1, 2), exactly, as a 62-bit fraction.
    let mut m = u64::from(x) << (MANTISSA_BITS - e);
    let mut fraction = 0u64;
    for bit in (0..LOG_FRACTION_BITS).rev() {
        // m < 2^63, so m² < 2^126 and m² / 2^62 < 2^64.
        m = ((u128::from(m) * u128::from(m)) >> MANTISSA_BITS) as u64;
        // Without a branch: `high` is 1 when m ≥ 2, that is when bit 63 is set.
        let high = m >> (MANTISSA_BITS + 1);
        m >>= high;
        fraction |= high << bit;
    }
    (u64::from(e) << LOG_FRACTION_BITS) | fraction
}

/// `2^(y / 2^48) · 2^20`, truncated; y / 2^48 < 32.
fn exp2_scaled(y: u128) -> u64 {
    let whole = (y >> LOG_FRACTION_BITS) as u32;
    debug_assert!(whole < 32);
    let p = exp2_fraction((y as u64) & ((1u64 << LOG_FRACTION_BITS) - 1));
    // p < 2^63 and whole < 32: below 2^95 before the shift, below 2^53 after.
    ((u128::from(p) << whole) >> (MANTISSA_BITS - WEIGHT_SCALE_BITS)) as u64
}

/// `2^(fraction / 2^48)` with 62 fractional bits, truncated: in [2^62, 2^63).
pub(super) fn exp2_fraction(fraction: u64) -> u64 {
    debug_assert!(fraction < 1 << LOG_FRACTION_BITS);
    let mut p: u64 = 1 << MANTISSA_BITS;
    for (chunk, table) in EXP2_BYTES.iter().enumerate() {
        let byte = (fraction >> (LOG_FRACTION_BITS - 8 * (chunk as u32 + 1))) & 0xff;
        // Both factors are below 2^63 and their product below 2 · 2^62.
        p = ((u128::from(p) * u128::from(table[byte as usize])) >> MANTISSA_BITS) as u64;
    }
    p
}
