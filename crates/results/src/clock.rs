//! Wall-clock timestamps in UTC.

use std::time::SystemTime;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// RFC 3339 to the second, e.g. `2026-11-25T21:54:14Z`.
pub fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
        .format(&Rfc3339)
        .expect("a UTC time between years 0 and 9999 formats")
}

/// fortio-style run id stamp, e.g. `2026-11-25-215414`.
pub fn stamp(t: SystemTime) -> String {
    rfc3339(t)
        .trim_end_matches('Z')
        .replace('T', "-")
        .replace(':', "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_650_274_199);
        assert_eq!(rfc3339(t), "2022-04-18T09:29:59Z");
        assert_eq!(stamp(t), "2022-04-18-092959");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}
