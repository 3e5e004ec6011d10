//! The value formats of the HYDRAstor contract: capacities with units and thousands
//! separators, dedup ratios, and report times. `-` (or nothing) means unknown.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use regex::Regex;
use std::sync::LazyLock;

fn unknown(raw: &str) -> bool {
    let t = raw.trim();
    t.is_empty() || t == "-"
}

fn number(raw: &str) -> Result<f64, String> {
    raw.replace(',', "")
        .parse::<f64>()
        .map_err(|_| format!("`{raw}` is not a number"))
}

/// `1,152.00 TB` → 1_152_000_000_000_000. Decimal units (B KB MB GB TB PB) and binary ones
/// (KiB … PiB); a bare number is bytes.
pub fn bytes(raw: &str) -> Result<Option<i64>, String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^([0-9][0-9,]*(?:\.[0-9]+)?)\s*([A-Za-z]*)$")
            .unwrap_or_else(|e| panic!("bytes regex: {e}"))
    });
    if unknown(raw) {
        return Ok(None);
    }
    let caps = RE
        .captures(raw.trim())
        .ok_or_else(|| format!("`{}` is not a capacity like `1,152.00 TB`", raw.trim()))?;
    let value = number(&caps[1])?;
    let factor: f64 = match caps[2].to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "pb" => 1e15,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        "pib" => 1024f64.powi(5),
        other => return Err(format!("unknown unit `{other}` in `{}`", raw.trim())),
    };
    let total = (value * factor).round();
    if total > i64::MAX as f64 {
        return Err(format!("`{}` is too large", raw.trim()));
    }
    Ok(Some(total as i64))
}

/// `12.00:1`, `12.0 : 1`, `12x` (or a bare number) → 12.0.
pub fn ratio(raw: &str) -> Result<Option<f64>, String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^([0-9][0-9,]*(?:\.[0-9]+)?)\s*(?::\s*([0-9][0-9,]*(?:\.[0-9]+)?)|[xX])?$")
            .unwrap_or_else(|e| panic!("ratio regex: {e}"))
    });
    if unknown(raw) {
        return Ok(None);
    }
    let caps = RE
        .captures(raw.trim())
        .ok_or_else(|| format!("`{}` is not a ratio like `12.00:1` or `12x`", raw.trim()))?;
    let left = number(&caps[1])?;
    let right = match caps.get(2) {
        Some(m) => number(m.as_str())?,
        None => 1.0,
    };
    if right == 0.0 {
        return Err(format!("`{}` divides by zero", raw.trim()));
    }
    Ok(Some(left / right))
}

/// `YYYY/MM/DD HH:MM:SS` with an optional `+HHMM` / `+HH:MM` / `UTC`; without one, the
/// grid's zone `default` applies.
pub fn time(raw: &str, default: FixedOffset) -> Result<DateTime<Utc>, String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(\d{4}/\d{1,2}/\d{1,2}\s+\d{1,2}:\d{2}:\d{2})\s*(?:([+-])(\d{2}):?(\d{2})|(?i:utc|gmt|z))?$")
            .unwrap_or_else(|e| panic!("time regex: {e}"))
    });
    let text = raw.trim();
    let caps = RE
        .captures(text)
        .ok_or_else(|| format!("`{text}` is not a time like `2023/01/13 12:00:00 +0100`"))?;
    let naive = NaiveDateTime::parse_from_str(
        &caps[1].split_whitespace().collect::<Vec<_>>().join(" "),
        "%Y/%m/%d %H:%M:%S",
    )
    .map_err(|e| format!("`{text}`: {e}"))?;
    let offset = match (caps.get(2), caps.get(3), caps.get(4)) {
        (Some(sign), Some(h), Some(m)) => {
            let seconds = h.as_str().parse::<i32>().unwrap_or(0) * 3600
                + m.as_str().parse::<i32>().unwrap_or(0) * 60;
            let seconds = if sign.as_str() == "-" {
                -seconds
            } else {
                seconds
            };
            FixedOffset::east_opt(seconds)
                .ok_or_else(|| format!("`{text}`: offset out of range"))?
        }
        _ if text.len() > caps[1].len() => FixedOffset::east_opt(0).unwrap_or(default),
        _ => default,
    };
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("`{text}` is not a valid local time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_in_every_unit() {
        assert_eq!(bytes("1,152.00 TB").unwrap(), Some(1_152_000_000_000_000));
        assert_eq!(bytes("72.00 TB").unwrap(), Some(72_000_000_000_000));
        assert_eq!(bytes("1 KiB").unwrap(), Some(1024));
        assert_eq!(bytes("1.5 GiB").unwrap(), Some(1_610_612_736));
        assert_eq!(bytes("512").unwrap(), Some(512));
        assert_eq!(bytes("2 pb").unwrap(), Some(2_000_000_000_000_000));
        assert_eq!(bytes(" - ").unwrap(), None);
        assert!(bytes("12 XB").unwrap_err().contains("unknown unit"));
        assert!(bytes("lots").is_err());
        assert!(bytes("99999999 PiB").is_err());
    }

    #[test]
    fn ratios_in_every_notation() {
        for raw in ["12.00:1", "12.0 : 1", "12x", "12X", "12", "24:2"] {
            assert_eq!(ratio(raw).unwrap(), Some(12.0), "{raw}");
        }
        assert_eq!(ratio("-").unwrap(), None);
        assert!(ratio("12:0").is_err());
        assert!(ratio("twelve").is_err());
    }

    #[test]
    fn times_with_and_without_offsets() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let cet = FixedOffset::east_opt(3600).unwrap();
        let t = |raw: &str, zone| time(raw, zone).unwrap().to_rfc3339();
        assert_eq!(
            t("2023/01/13 12:00:00 +0100", utc),
            "2023-01-13T11:00:00+00:00"
        );
        assert_eq!(
            t("2023/01/13 12:00:00 -05:30", utc),
            "2023-01-13T17:30:00+00:00"
        );
        assert_eq!(t("2023/01/13 12:00:00", utc), "2023-01-13T12:00:00+00:00");
        assert_eq!(t("2023/01/13 12:00:00", cet), "2023-01-13T11:00:00+00:00");
        assert_eq!(
            t("2023/01/13 12:00:00 UTC", cet),
            "2023-01-13T12:00:00+00:00"
        );
        assert!(time("13.01.2023 12:00", utc).is_err());
        assert!(time("2023/02/30 12:00:00", utc).is_err());
    }
}
