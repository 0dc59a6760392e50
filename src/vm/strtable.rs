//! The table a string switch looks its value up in: the constants' texts in one buffer and an
//! open-addressing index over them, so that loading a switch of a million constants (a domain
//! blocklist) makes three allocations instead of a million, and a lookup is one hash, one or two
//! probes and one comparison, whatever the number of constants.

use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

/// Constant index → text, and text → constant index.
pub(crate) struct StrTable {
    /// Every constant's text, one after another.
    text: Box<str>,
    /// Where constant `i` ends in `text` (it starts where `i - 1` ends).
    ends: Box<[u32]>,
    /// Open addressing, linear probing: `(high bits of the hash, constant index)`, or
    /// [`EMPTY`]. Its length is a power of two, at least 8/7 of the constants plus one, so a
    /// probe always ends at an empty slot.
    slots: Box<[(u32, u32)]>,
}

const EMPTY: (u32, u32) = (0, u32::MAX);

/// A constant while the table is built: its home slot, the high bits of its hash, its index.
#[derive(Clone, Copy, Default)]
struct Entry {
    home: u32,
    tag: u32,
    index: u32,
}

/// The slots of a table of `cap` (a power of two, more than the entries), from entries sorted
/// by home. In home order, each goes to its home or the first slot after the last one filled:
/// every slot from an entry's home to its own is full, as probing requires. Those pushed past
/// the end wrap around, probing from their home as usual.
fn place(entries: Vec<Entry>, cap: usize) -> Option<Box<[(u32, u32)]>> {
    if entries.len() >= cap {
        return None;
    }
    let mask = cap.checked_sub(1)?;
    let mut slots = vec![EMPTY; cap].into_boxed_slice();
    let mut next = 0usize;
    let mut wrapped = Vec::new();
    for e in entries {
        let at = (e.home as usize).max(next);
        match slots.get_mut(at) {
            Some(slot) => {
                *slot = (e.tag, e.index);
                next = at + 1;
            }
            None => wrapped.push(e),
        }
    }
    for e in wrapped {
        let mut at = e.home as usize;
        loop {
            let slot = slots.get_mut(at)?;
            if *slot == EMPTY {
                *slot = (e.tag, e.index);
                break;
            }
            at = (at + 1) & mask;
        }
    }
    Some(slots)
}

/// `v` sorted by home slot (homes are below `1 << bits`): least significant digit first, 11
/// bits a pass, so each pass counts into 2,048 buckets. Stable, so equal homes keep the
/// constants' order and the table does not depend on anything but the constants.
fn sort_by_home(mut v: Vec<Entry>, bits: u32) -> Vec<Entry> {
    const DIGIT: u32 = 11;
    let mut out = vec![Entry::default(); v.len()];
    let mut shift = 0;
    while shift < bits {
        let width = (bits - shift).min(DIGIT);
        let digit_mask = (1u32 << width) - 1;
        let digit = |e: &Entry| ((e.home >> shift) & digit_mask) as usize;
        let mut starts = vec![0usize; 1 << width];
        for e in &v {
            if let Some(c) = starts.get_mut(digit(e)) {
                *c += 1;
            }
        }
        let mut sum = 0;
        for c in starts.iter_mut() {
            let count = *c;
            *c = sum;
            sum += count;
        }
        for e in &v {
            if let Some(at) = starts.get_mut(digit(e)) {
                if let Some(slot) = out.get_mut(*at) {
                    *slot = *e;
                }
                *at += 1;
            }
        }
        std::mem::swap(&mut v, &mut out);
        shift += width;
    }
    v
}

fn hash(s: &str) -> u64 {
    FxBuildHasher.hash_one(s)
}

impl StrTable {
    /// The table of `consts`, which are distinct (the verifier checks that a switch's
    /// constants are sorted and distinct); `None` when their texts do not fit in 4 GiB.
    ///
    /// Built without a random write per constant: the constants are hashed in order, sorted by
    /// their home slot (a radix sort, in passes that stay in the cache), then laid down slot
    /// after slot. Inserting a million constants one by one into a 16 MB table costs a cache
    /// miss each, which made this the largest part of loading a million-entry set.
    pub(crate) fn new<S: AsRef<str>>(consts: &[S]) -> Option<StrTable> {
        let total: usize = consts.iter().map(|c| c.as_ref().len()).sum();
        u32::try_from(total).ok()?;
        let n = u32::try_from(consts.len()).ok().filter(|&n| n < u32::MAX)?;
        let mut text = String::with_capacity(total);
        let mut ends = Vec::with_capacity(consts.len());
        let cap = ((n as usize) + (n as usize) / 7 + 1).next_power_of_two();
        let mask = cap - 1;
        let mut entries: Vec<Entry> = Vec::with_capacity(consts.len());
        for (i, c) in (0..n).zip(consts) {
            let c = c.as_ref();
            text.push_str(c);
            ends.push(u32::try_from(text.len()).ok()?);
            let h = hash(c);
            entries.push(Entry {
                home: (h as usize & mask) as u32,
                tag: (h >> 32) as u32,
                index: i,
            });
        }
        let slots = place(sort_by_home(entries, cap.trailing_zeros()), cap)?;
        Some(StrTable {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
            slots,
        })
    }

    /// The text of constant `i`.
    pub(crate) fn get(&self, i: u32) -> Option<&str> {
        let end = *self.ends.get(i as usize)? as usize;
        let start = match i.checked_sub(1) {
            Some(p) => *self.ends.get(p as usize)? as usize,
            None => 0,
        };
        self.text.get(start..end)
    }

    /// The index of the constant equal to `s`.
    #[inline]
    pub(crate) fn find(&self, s: &str) -> Option<u32> {
        let mask = self.slots.len().wrapping_sub(1);
        let h = hash(s);
        let tag = (h >> 32) as u32;
        let mut at = (h as usize) & mask;
        loop {
            let &(t, i) = self.slots.get(at)?;
            if i == u32::MAX {
                return None;
            }
            if t == tag && self.get(i) == Some(s) {
                return Some(i);
            }
            at = (at + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_constant_and_nothing_else() {
        for n in [0usize, 1, 2, 7, 8, 9, 100, 5000] {
            let consts: Vec<String> = (0..n).map(|i| format!("host{i}.example.com")).collect();
            let t = StrTable::new(&consts).unwrap();
            for (i, c) in consts.iter().enumerate() {
                assert_eq!(t.find(c), Some(i as u32), "{c}");
                assert_eq!(t.get(i as u32), Some(c.as_str()));
            }
            for miss in ["", "host", "host1.example.co", "x", "host5000.example.com"] {
                if !consts.iter().any(|c| c == miss) {
                    assert_eq!(t.find(miss), None, "{miss}");
                }
            }
            assert_eq!(t.get(n as u32), None);
        }
        // The empty string is a constant like any other.
        let t = StrTable::new(&["", "a"]).unwrap();
        assert_eq!(t.find(""), Some(0));
        assert_eq!(t.find("a"), Some(1));
        assert_eq!(t.find("b"), None);
    }

    #[test]
    fn tables_that_wrap_around_find_everything() {
        // Many constants at the last slots: the ones pushed past the end wrap to the start.
        for n in [3usize, 14, 15, 16, 17, 100, 3000] {
            let consts: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
            let t = StrTable::new(&consts).unwrap();
            assert!(t.slots.len() * 7 >= n * 8, "{n}: {} slots", t.slots.len());
            for (i, c) in consts.iter().enumerate() {
                assert_eq!(t.find(c), Some(i as u32));
            }
            assert_eq!(t.find("c"), None);
        }
        // Crowded at the end: four entries at home 6 of 8 slots fill 6, 7, then 0 and 1.
        let crowd: Vec<Entry> = [(1u32, 0u32), (6, 1), (6, 2), (6, 3), (6, 4)]
            .iter()
            .map(|&(home, index)| Entry {
                home,
                tag: index,
                index,
            })
            .collect();
        let slots = place(crowd, 8).unwrap();
        assert_eq!(
            slots.iter().map(|s| s.1).collect::<Vec<_>>(),
            [3, 0, 4, u32::MAX, u32::MAX, u32::MAX, 1, 2]
        );
        let mut v: Vec<Entry> = (0..5000u32)
            .map(|i| Entry {
                home: (i * 7919) % 4096,
                tag: 0,
                index: i,
            })
            .collect();
        v = sort_by_home(v, 12);
        assert!(v.windows(2).all(|w| w[0].home <= w[1].home));
        assert!(
            v.windows(2)
                .all(|w| w[0].home < w[1].home || w[0].index < w[1].index)
        );
    }
}
