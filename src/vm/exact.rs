//! Exact sums of 64-bit floats, for `sum(…)`.
//!
//! Every finite `f64` is an integer multiple of 2^-1074 (the smallest subnormal), below
//! 2^2098 of them. [`Exact`] keeps a running total as that integer, exactly, in two's
//! complement 64-bit limbs over just the range of bits in use (a few limbs for ordinary
//! values). Adding and subtracting are exact, so a sliding window adds each value when it
//! enters and subtracts it when it leaves, in any order, and the total is always the exact sum
//! of what is in the window. [`Exact::value`] rounds it once, to nearest with ties to even,
//! as IEEE 754 does: the result does not depend on the order of the values, so the VM and the
//! reference interpreter (which computes it another way) agree to the bit.

/// Limbs below this index of the fixed-point integer are bits below 2^-1074 + 64·index.
const MAX_LIMBS: usize = 40;

/// An exact sum of finite `f64` values. Zero when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exact {
    /// The limb index (in units of 64 bits above 2^-1074) of `limbs[0]`.
    base: u32,
    /// Two's complement, least significant first; the last limb's top bit is the sign. Empty
    /// for zero; never a redundant sign limb on top or a zero limb at the bottom.
    limbs: Vec<u64>,
}

/// A finite `f64` as `mantissa · 2^(shift − 1074)`, `mantissa < 2^53`.
fn parts(v: f64) -> (bool, u64, u32) {
    let bits = v.to_bits();
    let neg = bits >> 63 == 1;
    let exp = ((bits >> 52) & 0x7ff) as u32;
    let frac = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        (neg, frac, 0)
    } else {
        (neg, frac | (1u64 << 52), exp - 1)
    }
}

impl Exact {
    /// Zero.
    pub fn new() -> Exact {
        Exact::default()
    }

    pub fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    /// Adds `v` exactly. Infinities and NaN are not values of the language and are ignored.
    pub fn add(&mut self, v: f64) {
        self.add_signed(v, false);
    }

    /// Subtracts `v` exactly.
    pub fn sub(&mut self, v: f64) {
        self.add_signed(v, true);
    }

    /// Adds another exact sum.
    pub fn add_exact(&mut self, other: &Exact) {
        for (i, &limb) in other.limbs.iter().enumerate() {
            let at = other.base as usize + i;
            // The top limb carries the sign: extend it through the rest of the width.
            let top = i + 1 == other.limbs.len();
            self.add_limb(at, limb, top && limb >> 63 == 1);
        }
        self.normalize();
    }

    /// Subtracts another exact sum.
    pub fn sub_exact(&mut self, other: &Exact) {
        if other.limbs.is_empty() {
            return;
        }
        // −b = !b + 1 over the infinite two's complement width: the limbs of `b` below its
        // base are zero, so their complements are all ones and the + 1 carries through them
        // into limb `base`.
        for (i, &limb) in other.limbs.iter().enumerate() {
            let at = other.base as usize + i;
            let top = i + 1 == other.limbs.len();
            self.add_limb(at, !limb, top && !limb >> 63 == 1);
        }
        self.add_limb(other.base as usize, 1, false);
        self.normalize();
    }

    fn add_signed(&mut self, v: f64, negate: bool) {
        if !v.is_finite() || v == 0.0 {
            return;
        }
        let (neg, mant, shift) = parts(v);
        let wide = u128::from(mant) << (shift % 64);
        let at = (shift / 64) as usize;
        let (lo, hi) = (wide as u64, (wide >> 64) as u64);
        if neg != negate {
            // Subtract: add the two's complement of (hi, lo), sign-extended.
            let (nlo, borrow) = (!lo).overflowing_add(1);
            let nhi = (!hi).wrapping_add(u64::from(borrow));
            self.add_limb(at, nlo, false);
            self.add_limb(at + 1, nhi, true);
        } else {
            self.add_limb(at, lo, false);
            self.add_limb(at + 1, hi, false);
        }
        self.normalize();
    }

    /// Adds `limb · 2^(64·at)` (with `negative`, minus `2^(64·(at+1))` too: the limb is the
    /// top of a negative number), carrying through the limbs above.
    fn add_limb(&mut self, at: usize, limb: u64, negative: bool) {
        if limb == 0 && !negative {
            return;
        }
        self.cover(at);
        let mut carry = 0u64;
        let start = at - self.base as usize;
        let mut i = start;
        loop {
            let add = if i == start {
                limb
            } else if negative {
                u64::MAX
            } else {
                0
            };
            let Some(x) = self.limbs.get_mut(i) else {
                break;
            };
            let (s1, c1) = x.overflowing_add(add);
            let (s2, c2) = s1.overflowing_add(carry);
            *x = s2;
            carry = u64::from(c1) + u64::from(c2);
            i += 1;
            // Above the addend, a positive one only carries; a negative one adds all ones
            // (sign extension) which, with a carry, is adding nothing.
            if i > start && (if negative { carry == 1 } else { carry == 0 }) {
                break;
            }
        }
    }

    /// Makes limbs exist from index `at` up to at least one limb above `at + 1` and above the
    /// current top, so that adding a two-limb value at `at` cannot overflow.
    fn cover(&mut self, at: usize) {
        if self.limbs.is_empty() {
            self.base = at as u32;
            self.limbs.resize(3, 0);
            return;
        }
        let base = self.base as usize;
        if at < base {
            let add = base - at;
            self.limbs.splice(0..0, std::iter::repeat_n(0, add));
            self.base = at as u32;
        }
        let base = self.base as usize;
        let sign = if self.limbs.last().is_some_and(|l| l >> 63 == 1) {
            u64::MAX
        } else {
            0
        };
        // Room for the addend (two limbs) and one sign limb above everything.
        let want = (at + 3).max(base + self.limbs.len() + 1) - base;
        if self.limbs.len() < want && want <= MAX_LIMBS + 2 {
            self.limbs.resize(want, sign);
        }
    }

    /// Drops redundant sign limbs on top and zero limbs at the bottom.
    fn normalize(&mut self) {
        while let [.., below, top] = self.limbs.as_slice() {
            let redundant =
                (*top == 0 && below >> 63 == 0) || (*top == u64::MAX && below >> 63 == 1);
            if !redundant {
                break;
            }
            self.limbs.pop();
        }
        if self.limbs.as_slice() == [0] {
            self.limbs.clear();
        }
        let zeros = self.limbs.iter().take_while(|&&l| l == 0).count();
        if zeros > 0 && zeros < self.limbs.len() {
            self.limbs.drain(..zeros);
            self.base += zeros as u32;
        }
    }

    /// Whether the sum is below zero.
    pub fn is_negative(&self) -> bool {
        self.limbs.last().is_some_and(|l| l >> 63 == 1)
    }

    /// The sum rounded to the nearest `f64`, ties to even; ±infinity beyond the largest
    /// finite value. Zero is `+0`.
    pub fn value(&self) -> f64 {
        if self.limbs.is_empty() {
            return 0.0;
        }
        let neg = self.is_negative();
        // The magnitude, least significant limb first, on the stack.
        let mut mag = [0u64; MAX_LIMBS + 2];
        let n = self.limbs.len().min(mag.len());
        let mut carry = 1u64;
        for (m, &l) in mag.iter_mut().zip(self.limbs.iter()) {
            if neg {
                let (s, c) = (!l).overflowing_add(carry);
                *m = s;
                carry = u64::from(c);
            } else {
                *m = l;
            }
        }
        let mag = mag.get(..n).unwrap_or(&[]);
        let Some(top) = mag.iter().rposition(|&l| l != 0) else {
            return 0.0;
        };
        let top_limb = mag.get(top).copied().unwrap_or(0);
        // The highest set bit, relative to bit 0 of `mag` (which is `64 · base` above 2^-1074).
        let h_rel = 64 * top as isize + 63 - top_limb.leading_zeros() as isize;
        let offset = 64 * self.base as isize;
        let magnitude = if h_rel + offset < 53 {
            // Below 2^53 units the value is exact: its units are the bits of the subnormal
            // or smallest normal number it is (and `base` is 0).
            f64::from_bits(mag.first().copied().unwrap_or(0))
        } else {
            // The 53 bits from the highest set bit down, then the rounding bit and whether
            // anything below it is set.
            let low = h_rel - 52;
            let mut mant = window(mag, low) & ((1u64 << 53) - 1);
            let round = window(mag, low - 1) & 1 == 1;
            let sticky = below(mag, low - 1);
            let mut low_abs = low + offset;
            if round && (sticky || mant & 1 == 1) {
                mant += 1;
                if mant == 1 << 53 {
                    mant >>= 1;
                    low_abs += 1;
                }
            }
            // mant · 2^(low_abs − 1074) is a normal number with biased exponent low_abs + 1.
            let exp = low_abs + 1;
            if exp >= 0x7ff {
                f64::INFINITY
            } else {
                f64::from_bits(((exp as u64) << 52) | (mant & ((1u64 << 52) - 1)))
            }
        };
        if neg { -magnitude } else { magnitude }
    }
}

/// The 64 bits of `mag` from bit `at` up (zero outside `mag`).
fn window(mag: &[u64], at: isize) -> u64 {
    let get = |i: isize| {
        usize::try_from(i)
            .ok()
            .and_then(|i| mag.get(i).copied())
            .unwrap_or(0)
    };
    let (limb, bit) = (at.div_euclid(64), at.rem_euclid(64) as u32);
    if bit == 0 {
        get(limb)
    } else {
        (get(limb) >> bit) | (get(limb + 1) << (64 - bit))
    }
}

/// Whether any bit of `mag` below bit `at` is set.
fn below(mag: &[u64], at: isize) -> bool {
    let Ok(at) = usize::try_from(at) else {
        return false;
    };
    let (limb, bit) = (at / 64, at % 64);
    let partial = mag.get(limb).is_some_and(|&l| l & ((1u64 << bit) - 1) != 0);
    partial || mag.iter().take(limb).any(|&l| l != 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn sum(vs: &[f64]) -> f64 {
        let mut e = Exact::new();
        for &v in vs {
            e.add(v);
        }
        e.value()
    }

    #[test]
    fn small_sums_are_plain_sums() {
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[1.0, 2.0, 3.5]), 6.5);
        assert_eq!(sum(&[150000.0; 4]), 600000.0);
        assert_eq!(sum(&[-1.0, 1.0]), 0.0);
        assert_eq!(sum(&[-0.0]).to_bits(), 0.0f64.to_bits());
        assert_eq!(sum(&[0.5, -2.25]), -1.75);
    }

    #[test]
    fn exact_where_floats_lose_digits() {
        // 1e16 + 1 - 1e16 in floats is 0; exactly it is 1.
        assert_eq!(sum(&[1e16, 1.0, -1e16]), 1.0);
        assert_eq!(sum(&[1e300, 1.0, -1e300]), 1.0);
        assert_eq!(sum(&[0.1, 0.2, -0.3]), 2.7755575615628914e-17);
        assert_eq!(
            sum(&[f64::MIN_POSITIVE / 4.0, f64::MAX, -f64::MAX]),
            f64::MIN_POSITIVE / 4.0
        );
    }

    #[test]
    fn rounds_once_to_even() {
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: even is 2^53.
        let two53 = 9007199254740992.0;
        assert_eq!(sum(&[two53, 1.0]), two53);
        assert_eq!(sum(&[two53, 1.0, 1e-300]), two53 + 2.0);
        assert_eq!(sum(&[two53 + 2.0, 1.0]), two53 + 4.0);
    }

    #[test]
    fn overflow_is_infinite_and_comes_back() {
        let mut e = Exact::new();
        e.add(f64::MAX);
        e.add(f64::MAX);
        assert_eq!(e.value(), f64::INFINITY);
        e.sub(f64::MAX);
        assert_eq!(e.value(), f64::MAX);
        let mut n = Exact::new();
        for _ in 0..1000 {
            n.sub(f64::MAX);
        }
        assert_eq!(n.value(), f64::NEG_INFINITY);
        for _ in 0..1000 {
            n.add(f64::MAX);
        }
        assert!(n.is_zero());
    }

    #[test]
    fn subnormals_are_exact() {
        let tiny = f64::from_bits(1);
        assert_eq!(sum(&[tiny, tiny, tiny]), f64::from_bits(3));
        assert_eq!(
            sum(&[f64::MIN_POSITIVE, -tiny]),
            f64::from_bits((1 << 52) - 1)
        );
    }

    #[test]
    fn add_then_subtract_in_any_order_is_zero() {
        let vs = [1e-300, 3.5, -7e200, 1e308, 0.1, -0.0, 5e-324, -1e-10];
        let mut e = Exact::new();
        for v in vs {
            e.add(v);
        }
        for v in vs.iter().rev() {
            e.sub(*v);
        }
        assert!(e.is_zero(), "{e:?}");
    }

    #[test]
    fn subtracting_exact_sums_undoes_adding_them() {
        let vs = [
            1e-300,
            3.5,
            -7e200,
            1e308,
            0.1,
            -0.0,
            5e-324,
            -1e-10,
            -f64::MAX,
            2.0,
        ];
        for split in 0..vs.len() {
            for skip in 0..vs.len() {
                let mut a = Exact::new();
                let mut b = Exact::new();
                let mut rest = Exact::new();
                for (i, &v) in vs.iter().enumerate() {
                    if i == skip {
                        continue;
                    }
                    a.add(v);
                    if i < split {
                        b.add(v);
                    } else {
                        rest.add(v);
                    }
                }
                let mut d = a.clone();
                d.sub_exact(&b);
                assert_eq!(d, rest, "split {split} skip {skip}");
                d.sub_exact(&rest);
                assert!(d.is_zero(), "{d:?}");
                let mut n = Exact::new();
                n.sub_exact(&a);
                n.add_exact(&a);
                assert!(n.is_zero(), "{n:?}");
            }
        }
        let mut m = Exact::new();
        m.add(f64::MAX);
        m.add(f64::MAX);
        let mut z = Exact::new();
        z.sub_exact(&m);
        assert_eq!(z.value(), f64::NEG_INFINITY);
        z.add_exact(&m);
        assert!(z.is_zero());
    }

    #[test]
    fn adding_exact_sums() {
        let mut a = Exact::new();
        a.add(1e300);
        a.add(-3.0);
        let mut b = Exact::new();
        b.add(-1e300);
        b.add(0.5);
        a.add_exact(&b);
        assert_eq!(a.value(), -2.5);
    }
}
