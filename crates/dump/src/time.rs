//! TSOs (nanoseconds since the Unix epoch) as RFC 3339 UTC times.

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2019-03-12T06:18:45.597270410Z`; an unset (zero) TSO is `-`.
pub fn format_tso(tso: i64) -> String {
    if tso == 0 {
        return "-".into();
    }
    let seconds = tso.div_euclid(1_000_000_000);
    let nanos = tso.rem_euclid(1_000_000_000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_tso(1_552_371_525_597_270_410), "2019-03-12T06:18:45.597270410Z");
        assert_eq!(format_tso(1), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(format_tso(951_782_400_000_000_000), "2000-02-29T00:00:00.000000000Z");
        assert_eq!(format_tso(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(format_tso(0), "-");
    }
}
