//! RFC 3339 timestamps → nanoseconds since the Unix epoch, and the calendar fields the
//! language exposes (`time.hour`, `time.weekday`).

/// Parses an RFC 3339 timestamp (`2026-11-23T10:00:00.120Z`, `…+02:00`; `t`/`z` and a space
/// instead of `T` accepted) into nanoseconds since 1970-01-01T00:00:00Z.
///
/// Returns `None` for anything else, including dates that do not exist and times outside the
/// range of an `i64` of nanoseconds (years 1678–2261). Leap seconds (`:60`) are refused.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let mut v: i64 = 0;
        for i in from..from + len {
            let c = *b.get(i)?;
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = num(11, 2)?;
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(c - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            if b.get(i + 3) != Some(&b':') {
                return None;
            }
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let o = oh * 3600 + om * 60;
            if sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    if i != b.len() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Hour of the day in UTC, 0–23.
pub fn hour(ns: i64) -> f64 {
    let secs = ns.div_euclid(1_000_000_000);
    (secs.rem_euclid(86_400) / 3600) as f64
}

/// ISO weekday in UTC: 1 = Monday … 7 = Sunday.
pub fn weekday(ns: i64) -> f64 {
    let days = ns.div_euclid(1_000_000_000).div_euclid(86_400);
    // 1970-01-01 was a Thursday (4).
    ((days + 3).rem_euclid(7) + 1) as f64
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn format_rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let millis = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Appends `ns` (nanoseconds since the epoch) as RFC 3339 UTC: milliseconds always, and as
/// many more digits as are not zero (`2026-11-23T10:00:00.120Z`, `…:00.0015Z`), without
/// formatting machinery (it runs once per audit record). The form of trace times
/// ([`crate::trace::format_ts`]).
pub fn write_rfc3339_nanos(ns: i64, out: &mut String) {
    write_rfc3339(ns, out, false);
}

/// Appends `ns` as [`format_rfc3339_exact`] writes it (3, 6 or 9 fraction digits): the time
/// a decision point stamps into an event's `ts`, the same text the VM sees
/// ([`crate::vm::Program::eval_at`]) and the audit log records.
pub fn write_rfc3339_exact(ns: i64, out: &mut String) {
    write_rfc3339(ns, out, true);
}

fn write_rfc3339(ns: i64, out: &mut String, groups_of_three: bool) {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    // Written in place and appended once (it runs twice per audit record): each field is
    // the last `width` digits of its magnitude, zero-padded.
    let mut buf = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, n: i64| {
        let mut v = n.unsigned_abs();
        if let Some(field) = buf.get_mut(at..at + width) {
            for b in field.iter_mut().rev() {
                *b = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, sod / 3600);
    put(14, 2, (sod % 3600) / 60);
    put(17, 2, sod % 60);
    let (step, by) = if groups_of_three { (3, 1000) } else { (1, 10) };
    let mut digits = 9;
    let mut f = frac;
    while digits > 3 && f % by == 0 {
        f /= by;
        digits -= step;
    }
    put(20, digits, f);
    if let Some(z) = buf.get_mut(20 + digits) {
        *z = b'Z';
    }
    out.push_str(std::str::from_utf8(buf.get(..21 + digits).unwrap_or(&[])).unwrap_or(""));
}

/// Writes times as [`write_rfc3339_exact`] does, keeping the text of the last second it
/// wrote (`YYYY-MM-DDTHH:MM:SS`): a time in that second costs only its fraction. A decision
/// point stamps every event with the host time, and the events it decides one after the
/// other nearly always share their second. Holds nothing but that text (no allocation once
/// it has written one time).
#[derive(Clone, Debug, Default)]
pub struct ExactWriter {
    /// The second (since the epoch) whose date and time of day `head` holds.
    second: Option<i64>,
    head: String,
}

impl ExactWriter {
    /// Appends `ns` to `out`: the same text as [`write_rfc3339_exact`].
    pub fn write(&mut self, ns: i64, out: &mut String) {
        let secs = ns.div_euclid(1_000_000_000);
        if self.second != Some(secs) {
            self.head.clear();
            write_rfc3339_exact(secs.saturating_mul(1_000_000_000), &mut self.head);
            // `…:SS.000Z`: the date and the time of day are the first 19 bytes.
            self.head.truncate(19);
            self.second = Some(secs);
        }
        out.push_str(&self.head);
        // The fraction in groups of three digits, as many as are not all zero, at least one.
        let f = ns.rem_euclid(1_000_000_000);
        let (a, b, c) = (f / 1_000_000, f / 1000 % 1000, f % 1000);
        let group = |g: i64| {
            let at = usize::try_from(g).unwrap_or(0) * 3;
            GROUPS.get(at..at + 3).unwrap_or("000")
        };
        out.push('.');
        out.push_str(group(a));
        if b != 0 || c != 0 {
            out.push_str(group(b));
        }
        if c != 0 {
            out.push_str(group(c));
        }
        out.push('Z');
    }
}

/// `000`, `001`, … `999`: three digits for each number below 1000, in order.
#[expect(
    clippy::indexing_slicing,
    reason = "indices below 3000 into a 3000-byte table, checked at compile time"
)]
const GROUP_BYTES: [u8; 3000] = {
    let mut t = [0u8; 3000];
    let mut i = 0;
    while i < 1000 {
        t[3 * i] = b'0' + (i / 100) as u8;
        t[3 * i + 1] = b'0' + (i / 10 % 10) as u8;
        t[3 * i + 2] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// [`GROUP_BYTES`] as text (ASCII digits: always valid).
const GROUPS: &str = match std::str::from_utf8(&GROUP_BYTES) {
    Ok(s) => s,
    Err(_) => "",
};

/// Formats nanoseconds since the epoch as RFC 3339 UTC with as many fraction digits as the
/// time needs (3, 6 or 9): [`parse_rfc3339`] reads it back to the same nanosecond.
pub fn format_rfc3339_exact(ns: i64) -> String {
    let mut out = String::with_capacity(30);
    write_rfc3339_exact(ns, &mut out);
    out
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-11-23T10:00:00.120Z"),
            Some(1_795_428_000_120_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z").map(|n| n > 0),
            Some(true)
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-23 10:00:00",
            "2026-11-23T10:00:00",
            "2026-11-23T24:00:00Z",
            "2026-11-23T10:00:60Z",
            "2026-11-23T10:00:00.Z",
            "2026-11-23T10:00:00Zx",
            "9999-01-01T00:00:00Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn calendar_fields() {
        let t = parse_rfc3339("2026-11-23T10:30:00Z").unwrap_or(0);
        assert_eq!(hour(t), 10.0);
        assert_eq!(weekday(t), 1.0); // a Monday
        let sunday = parse_rfc3339("2026-11-22T23:59:59+00:00").unwrap_or(0);
        assert_eq!(weekday(sunday), 7.0);
        let before_epoch = parse_rfc3339("1969-12-31T23:00:00Z").unwrap_or(0);
        assert_eq!(hour(before_epoch), 23.0);
        assert_eq!(weekday(before_epoch), 3.0);
    }

    #[test]
    fn nanosecond_times_match_the_trace_format() {
        for ns in [
            0i64,
            1_500_000,
            1_795_428_000_120_000_000,
            1_795_428_000_123_456_789,
            1_795_428_000_000_000_001,
            -1,
            86_399_999_999_999,
        ] {
            let mut s = String::new();
            write_rfc3339_nanos(ns, &mut s);
            assert_eq!(s, crate::trace::format_ts(ns), "{ns}");
            assert_eq!(parse_rfc3339(&s), Some(ns), "{s}");
        }
    }

    /// The writer that keeps its last second writes what `write_rfc3339_exact` writes, for
    /// times in the same second, in the next, a day and centuries apart, before the
    /// epoch, and with 3, 6 and 9 fraction digits, whatever it wrote before.
    #[test]
    fn the_writer_that_keeps_its_second_writes_the_exact_text() {
        let mut times = vec![0i64, -1, 1, 999_999_999, 1_000_000_000, i64::MIN, i64::MAX];
        for base in [
            0i64,
            -86_400_000_000_000,
            1_795_428_000_000_000_000,
            1_795_428_059_000_000_000,
            1_795_514_399_000_000_000,
            9_223_372_030_000_000_000,
        ] {
            for frac in [
                0i64,
                1,
                999,
                1_000,
                120_000_000,
                123_000_000,
                123_456_000,
                123_456_789,
                999_999_999,
            ] {
                times.push(base + frac);
                times.push(base + 1_000_000_000 + frac);
                times.push(base - 1_000_000_000 + frac);
            }
        }
        let mut w = ExactWriter::default();
        for (i, &ns) in times.iter().enumerate() {
            // Each time after every other: the kept second is stale, the same or next.
            for &before in times.iter().skip(i % 3).step_by(7) {
                let mut out = String::from("x");
                w.write(before, &mut out);
                w.write(ns, &mut out);
                w.write(ns, &mut out);
                let mut want = String::from("x");
                write_rfc3339_exact(before, &mut want);
                write_rfc3339_exact(ns, &mut want);
                write_rfc3339_exact(ns, &mut want);
                assert_eq!(out, want, "{before} then {ns}");
            }
        }
    }

    /// The former writer, field by field: the one in place must write the same text.
    fn write_rfc3339_by_fields(ns: i64, out: &mut String, groups_of_three: bool) {
        let secs = ns.div_euclid(1_000_000_000);
        let frac = ns.rem_euclid(1_000_000_000);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        fn put(out: &mut String, n: i64, width: usize) {
            let mut buf = [b'0'; 9];
            let mut v = n.unsigned_abs();
            for i in (0..width).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
            out.push_str(std::str::from_utf8(&buf[..width]).unwrap());
        }
        put(out, y, 4);
        out.push('-');
        put(out, m, 2);
        out.push('-');
        put(out, d, 2);
        out.push('T');
        put(out, sod / 3600, 2);
        out.push(':');
        put(out, (sod % 3600) / 60, 2);
        out.push(':');
        put(out, sod % 60, 2);
        out.push('.');
        let (step, by) = if groups_of_three { (3, 1000) } else { (1, 10) };
        let mut digits = 9;
        let mut f = frac;
        while digits > 3 && f % by == 0 {
            f /= by;
            digits -= step;
        }
        put(out, f, digits);
        out.push('Z');
    }

    #[test]
    fn written_in_place_as_field_by_field() {
        let mut times = vec![
            0i64,
            1,
            -1,
            999_999_999,
            1_000_000_000,
            -1_000_000_001,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            951_782_400_000_000_000,   // 2000-02-29
            4_107_456_000_123_000_000, // 2100-02-28T…
        ];
        // Every fraction length, and dates over the whole range (1677 to 2262).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ns = x as i64;
            let scale = [1, 10, 1000, 1_000_000, 1_000_000_000][(x % 5) as usize];
            times.push(ns / scale * scale);
            times.push((ns % 4_000_000_000_000_000_000) / scale * scale);
        }
        for ns in times {
            for groups in [false, true] {
                let (mut a, mut b) = (String::from("x"), String::from("x"));
                write_rfc3339(ns, &mut a, groups);
                write_rfc3339_by_fields(ns, &mut b, groups);
                assert_eq!(a, b, "{ns} (groups of three: {groups})");
            }
        }
    }

    #[test]
    fn formats_round_trip() {
        let t = parse_rfc3339("2026-11-23T10:00:00.120Z").unwrap_or(0);
        assert_eq!(format_rfc3339(t), "2026-11-23T10:00:00.120Z");
        assert_eq!(format_rfc3339_exact(t), "2026-11-23T10:00:00.120Z");
        for (ns, text) in [
            (t + 456_000, "2026-11-23T10:00:00.120456Z"),
            (t + 456_789, "2026-11-23T10:00:00.120456789Z"),
            (t + 1, "2026-11-23T10:00:00.120000001Z"),
            (1_500_000, "1970-01-01T00:00:00.001500Z"),
            (-1, "1969-12-31T23:59:59.999999999Z"),
        ] {
            assert_eq!(format_rfc3339_exact(ns), text);
            assert_eq!(parse_rfc3339(text), Some(ns));
        }
    }
}
