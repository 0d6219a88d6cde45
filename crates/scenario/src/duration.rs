//! Durations as Istio writes them (`15ms`, `1.5s`, `5m`, `1h`) and as Envoy reads them.

use std::time::Duration;

/// Parse an Istio/protobuf-JSON style duration: a decimal number followed by
/// `ms`, `s`, `m` or `h` (`0s` allowed). Returns a message naming the value on error.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!("duration {text:?} has no unit (use ms, s, m or h, e.g. \"15ms\")")
        })?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("duration {text:?} does not start with a number"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "duration {text:?} has unit {other:?}; use ms, s, m or h"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Render a duration the way Envoy's JSON/YAML config reads it, e.g. `0.015s`.
pub fn envoy(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", d.as_secs())
    } else {
        let s = format!("{:.9}", d.as_secs_f64());
        format!("{}s", s.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_istio_units() {
        assert_eq!(parse("15ms").unwrap(), Duration::from_millis(15));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_bad_durations_naming_them() {
        assert!(parse("15").unwrap_err().contains("\"15\""));
        assert!(parse("fast").unwrap_err().contains("fast"));
        assert!(parse("3d").unwrap_err().contains("\"d\""));
    }

    #[test]
    fn renders_for_envoy() {
        assert_eq!(envoy(Duration::from_millis(15)), "0.015s");
        assert_eq!(envoy(Duration::from_secs(300)), "300s");
        assert_eq!(envoy(Duration::from_millis(1500)), "1.5s");
    }
}
