//! Latency distribution in HdrHistogram's `.hgrm` text format (the output of Java's
//! `outputPercentileDistribution`, which HdrHistogram's plotter reads), values in ms.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// Percentile ticks per half distance to 100 %, as HdrHistogram's tools use.
const TICKS_PER_HALF_DISTANCE: u32 = 5;
/// Recorded values are µs; the file speaks ms.
const UNIT_SCALE: f64 = 1000.0;

/// Write the percentile distribution of `histogram` (µs values) to `out`, in ms.
pub fn write_hgrm(histogram: &Histogram<u64>, mut out: impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0;
    if !histogram.is_empty() {
        for step in histogram.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += step.count_since_last_iteration();
            let value = step.value_iterated_to() as f64 / UNIT_SCALE;
            let quantile = step.quantile_iterated_to();
            if quantile < 1.0 {
                let inverse = 1.0 / (1.0 - quantile);
                writeln!(
                    out,
                    "{value:12.3} {quantile:2.12} {total:10} {inverse:14.2}"
                )?;
            } else {
                writeln!(out, "{value:12.3} {quantile:2.12} {total:10}")?;
            }
        }
    }
    let mean = histogram.mean() / UNIT_SCALE;
    let stdev = histogram.stdev() / UNIT_SCALE;
    let max = histogram.max() as f64 / UNIT_SCALE;
    let sub_buckets = (2 * 10u32.pow(histogram.sigfig().into())).next_power_of_two();
    writeln!(
        out,
        "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]"
    )?;
    writeln!(
        out,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        histogram.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {sub_buckets:12}]",
        histogram.buckets()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_java_compatible_distribution() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for us in 1..=1000 {
            histogram.record(us * 10).unwrap();
        }
        let mut out = Vec::new();
        write_hgrm(&histogram, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       0.010 0.000000000000          1           1.00"
        );
        let last = lines.iter().rev().find(|l| !l.starts_with('#')).unwrap();
        assert!(
            last.starts_with("      10.007 1.000000000000       1000"),
            "{last}"
        );
        assert!(text.contains("#[Max     =       10.007, Total count    =         1000]"));
        let buckets = histogram.buckets();
        assert!(text.ends_with(&format!(
            "#[Buckets = {buckets:12}, SubBuckets     =         2048]\n"
        )));
    }
}
