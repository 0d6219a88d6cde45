//! `mesh5xx report`: turn run directories into a report people can read.
//!
//! [`report`] writes into one directory a `README.md` (per scenario: the
//! variant table, the error rate's mean, spread, 95 % interval and difference
//! from the baseline, the charts, the expectation failures, and — when a
//! scenario was run under several Istio profiles — a table and chart across
//! them), SVG charts (the error rates with their 95 % intervals as error bars),
//! the error-rate statistics and each variant's timeline as CSV, and a copy of
//! each latency histogram. Every input is read and every file rendered before
//! anything is written.

mod charts;
mod csv;
mod error;
mod figures;
mod load;
mod markdown;
mod matrix;
mod modes;
mod rates;
mod sections;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use error::ReportError;
pub use load::{Run, HISTOGRAM_FILE, SUMMARY_FILE};

use charts::{bar_chart, timeline_chart, BarChart, BarSeries, Colouring, TimelineSeries};
use figures::{ci_percent, error_percent};
use sections::{sections, RunEntry};

/// The name of the report's Markdown file.
pub const README: &str = "README.md";

/// Command-line arguments of `mesh5xx report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Run directories (each holding a `summary.json`); several scenarios or
    /// Istio profiles go into one report.
    #[arg(value_name = "RUN_DIR", required = true)]
    pub runs: Vec<PathBuf>,
    /// Where to write the report (default: `<first RUN_DIR>/report`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// What [`report`] wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// The Markdown report.
    pub readme: PathBuf,
    /// Every file written, the report included, in the order written.
    pub files: Vec<PathBuf>,
}

/// Entry point of `mesh5xx report`: load the runs, write the report, print where it is.
pub fn main(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let runs = args
        .runs
        .iter()
        .map(|dir| Run::load(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let out = match args.out {
        Some(out) => out,
        None => args.runs.first().ok_or(ReportError::NoRuns)?.join("report"),
    };
    let written = report(&runs, &out)?;
    println!(
        "{} ({} files in {})",
        written.readme.display(),
        written.files.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Write the report of `runs` into `out` (created if missing; files of the
/// same names are replaced, nothing else is touched).
pub fn report(runs: &[Run], out: &Path) -> Result<ReportFiles, ReportError> {
    if runs.is_empty() {
        return Err(ReportError::NoRuns);
    }
    let sections = sections(runs);
    let mut files: Vec<(String, String)> = Vec::new();
    for section in &sections {
        for entry in &section.runs {
            run_files(entry, &mut files)?;
        }
        if matrix::has_matrix(section) {
            files.push((section.profiles_chart(), matrix::matrix_chart(section)));
        }
    }
    let names: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
    files.push((README.to_string(), markdown::render(&sections, &names)));

    std::fs::create_dir_all(out).map_err(|source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let mut written = Vec::with_capacity(files.len());
    for (name, contents) in files {
        let path = out.join(name);
        std::fs::write(&path, contents).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(ReportFiles {
        readme: out.join(README),
        files: written,
    })
}

/// The charts, CSVs and histograms of one run, as (file name, contents).
fn run_files(entry: &RunEntry<'_>, files: &mut Vec<(String, String)>) -> Result<(), ReportError> {
    let s = &entry.run.summary;
    let variants = &s.variants;
    let heading = format!("{} ({})", s.scenario, entry.label);
    let series: Vec<TimelineSeries<'_>> = variants
        .iter()
        .map(|v| TimelineSeries {
            name: &v.name,
            timeline: &v.timeline,
            marks: &v.marks,
        })
        .collect();
    let title = if s.repeated() {
        format!("{heading}: errors per second, summed over runs")
    } else {
        format!("{heading}: errors per second")
    };
    files.push((entry.chart("timeline"), timeline_chart(&title, &series)));

    let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    let title = format!("{heading}: 5xx % by variant (error bars: 95 % CI)");
    let error_rate = bar_chart(&BarChart {
        title: &title,
        y_title: "5xx + transport errors (% of requests)",
        x_title: "variant",
        categories: names.clone(),
        series: vec![BarSeries {
            name: "5xx %".into(),
            values: variants.iter().map(|v| Some(error_percent(v))).collect(),
            intervals: variants.iter().map(|v| Some(ci_percent(v))).collect(),
        }],
        colouring: Colouring::ByCategory,
        allow_log: false,
        decimals: 2,
        unit: " %",
    });
    files.push((entry.chart("error-rate"), error_rate));

    let title = format!("{heading}: latency percentiles");
    let percentile = |name: &str, pick: fn(&mesh5xx_results::Latency) -> f64| BarSeries {
        name: name.into(),
        values: variants.iter().map(|v| Some(pick(&v.latency_ms))).collect(),
        intervals: Vec::new(),
    };
    let latency = bar_chart(&BarChart {
        title: &title,
        y_title: "latency (ms)",
        x_title: "variant",
        categories: names,
        series: vec![
            percentile("p50", |l| l.p50),
            percentile("p99", |l| l.p99),
            percentile("p99.9", |l| l.p999),
        ],
        colouring: Colouring::BySeries,
        allow_log: true,
        decimals: 1,
        unit: "",
    });
    files.push((entry.chart("latency"), latency));

    files.push((entry.error_rate_csv(), rates::csv(s)));
    for v in variants {
        files.push((entry.timeline_csv(&v.name), csv::timeline_csv(&v.timeline)));
        for (round, hgrm) in entry.run.histograms(v)? {
            files.push((entry.histogram(&v.name, round), hgrm));
        }
    }
    Ok(())
}
