//! `sum(…)` adds exactly and rounds once (`govern::vm::exact`): checked against Python's own
//! `math.fsum`, a correctly rounded sum, on values of every magnitude, and over sliding
//! windows where values are added as they enter and subtracted as they leave.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "peers/mod.rs"]
mod peers;

use govern::vm::exact::Exact;

/// A deterministic stream of awkward `f64`s: integers, decimals, subnormals, huge values,
/// both zeros, both signs.
fn values(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let r = next();
            let sign = if r & 1 == 1 { -1.0 } else { 1.0 };
            let v = match (r >> 1) % 9 {
                0 => ((r >> 8) % 1000) as f64,
                1 => ((r >> 8) % 100_000) as f64 / 1000.0,
                2 => 0.1 * ((r >> 8) % 7) as f64,
                3 => f64::from_bits((r >> 8) % (1 << 52)),
                4 => f64::from_bits(
                    ((r >> 8) % 0x7fd0_0000_0000_0000) & !0x7ff0_0000_0000_0000
                        | 0x7e00_0000_0000_0000,
                ),
                5 => 0.0,
                6 => 9007199254740993.0 + ((r >> 8) % 5) as f64,
                7 => f64::from_bits((r >> 8) % 0x7fe0_0000_0000_0000),
                _ => 1e16 * ((r >> 8) % 3) as f64,
            };
            // Keep clear of the overflow Python's fsum refuses.
            if v.abs() > 1e300 {
                sign * 1e300
            } else {
                sign * v
            }
        })
        .collect()
}

#[test]
fn exact_sums_agree_with_python_fsum() {
    if peers::skipped("exact sums against math.fsum") {
        return;
    }
    // Whole vectors, and every window of 1 to 5 values (what a sliding window holds).
    let mut lines = Vec::new();
    let mut ours = Vec::new();
    for seed in 1..200u64 {
        let vs = values(
            seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            (seed % 40 + 1) as usize,
        );
        let mut e = Exact::new();
        for &v in &vs {
            e.add(v);
        }
        lines.push(vs.clone());
        ours.push(e.value());
        let w = (seed % 5 + 1) as usize;
        let mut win = Exact::new();
        for (i, &v) in vs.iter().enumerate() {
            win.add(v);
            if i >= w {
                win.sub(vs[i - w]);
            }
            let from = (i + 1).saturating_sub(w);
            lines.push(vs[from..=i].to_vec());
            ours.push(win.value());
        }
    }
    let input = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fsum-input.txt");
    let text: Vec<String> = lines
        .iter()
        .map(|vs| {
            vs.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    std::fs::write(&input, text.join("\n") + "\n").unwrap();
    let script = "import math, sys\nfor line in open(sys.argv[1]):\n    print(repr(math.fsum(float(x) for x in line.split())))\n";
    let (ok, out, err) = peers::run_python(script, &[input.as_os_str()]);
    assert!(ok, "{err}");
    let theirs: Vec<f64> = out.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(theirs.len(), ours.len());
    let mut checked = 0;
    for ((mine, python), vs) in ours.iter().zip(&theirs).zip(&lines) {
        assert!(
            mine == python && (*mine == 0.0 || mine.to_bits() == python.to_bits()),
            "{vs:?}: exact sum {mine:e}, math.fsum {python:e}"
        );
        checked += 1;
    }
    assert!(checked > 2000, "{checked}");
}
