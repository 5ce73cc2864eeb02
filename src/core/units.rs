//! Human-written quantities in scenario files and flags: durations ("350ms", "1.5s", "2m"),
//! rates ("20/s", "1200/m") and percentages. Parsing only; no policy.

use std::time::Duration;

/// Parses a duration written with its unit: `us`, `ms`, `s`, `m`, `h` (e.g. `"350ms"`,
/// `"1.5s"`, `"2m"`). A bare number is rejected: every unit is written out.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .ok_or_else(|| format!("`{t}` has no unit; write e.g. \"500ms\", \"2s\" or \"1m\""))?;
    let (num, unit) = t.split_at(split);
    let num: String = num.chars().filter(|&c| c != '_').collect();
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{t}` is not a duration; write e.g. \"500ms\", \"2s\" or \"1m\""))?;
    let secs = match unit.trim() {
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "`{other}` is not a duration unit in `{t}`; use us, ms, s, m or h"
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("`{t}` is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a rate written as `N/s`, `N/m` (per minute) or `N/h`, into events per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, per) = t
        .split_once('/')
        .ok_or_else(|| format!("`{t}` is not a rate; write e.g. \"20/s\" or \"600/m\""))?;
    let num: String = num.trim().chars().filter(|&c| c != '_').collect();
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{t}` is not a rate; write e.g. \"20/s\" or \"600/m\""))?;
    let per_s = match per.trim() {
        "s" => value,
        "m" | "min" => value / 60.0,
        "h" => value / 3600.0,
        other => {
            return Err(format!(
                "`{other}` is not a rate unit in `{t}`; use /s, /m or /h"
            ))
        }
    };
    if !per_s.is_finite() || per_s < 0.0 {
        return Err(format!("`{t}` must be a finite, non-negative rate"));
    }
    Ok(per_s)
}

/// Formats a duration compactly for tables and messages.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2}s")
    } else if s >= 1e-3 {
        format!("{:.1}ms", s * 1e3)
    } else {
        format!("{:.0}us", s * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("350ms"), Ok(Duration::from_millis(350)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1_000ms"), Ok(Duration::from_secs(1)));
        assert!(parse_duration("12").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-3s").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("20/s"), Ok(20.0));
        assert_eq!(parse_rate("1200/m"), Ok(20.0));
        assert_eq!(parse_rate("3600/h"), Ok(1.0));
        assert!(parse_rate("20").is_err());
        assert!(parse_rate("-1/s").is_err());
        assert!(parse_rate("x/s").is_err());
    }
}
