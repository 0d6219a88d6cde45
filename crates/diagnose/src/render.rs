//! The human-readable report: a table of groups, then evidence, fixes and commands.

use std::fmt::Write;

use crate::{Diagnosis, GroupReport};

/// Renders `d` as a table followed by one section per group.
pub fn render_table(d: &Diagnosis) -> String {
    let mut out = String::new();
    let formats: Vec<String> = d.formats.iter().map(|(f, n)| format!("{f} {n}")).collect();
    let _ = writeln!(
        out,
        "{} lines, {} access log entries ({}), {} other lines",
        d.lines,
        d.parsed,
        if formats.is_empty() {
            "none".to_owned()
        } else {
            formats.join(", ")
        },
        d.unparsed
    );
    for input in &d.inputs {
        if let Some(error) = &input.error {
            let _ = writeln!(out, "warning: {}: {error}", input.name);
        }
    }
    if d.nothing_read() {
        let _ = writeln!(out, "error: nothing could be read");
        return out;
    }
    if d.groups.is_empty() {
        let _ = writeln!(out, "\nNo 5xx responses.");
    } else {
        out.push('\n');
        table(&mut out, &d.groups);
        for (i, g) in d.groups.iter().enumerate() {
            group(&mut out, i + 1, g);
        }
    }
    if d.ungrouped > 0 {
        let _ = writeln!(
            out,
            "\n{} more 5xx entries in groups beyond the first 10000",
            d.ungrouped
        );
    }
    if !d.unparsed_samples.is_empty() {
        let _ = writeln!(
            out,
            "\nLines that are not access log entries (first {}):",
            d.unparsed_samples.len()
        );
        for s in &d.unparsed_samples {
            let _ = writeln!(out, "  {}:{}: {} [{}]", s.input, s.line, s.text, s.reason);
        }
    }
    if !d.not_in_log.is_empty() {
        let _ = writeln!(
            out,
            "\nCauses no access log shows (their errors never reach istio-proxy):"
        );
        for u in &d.not_in_log {
            let _ = writeln!(
                out,
                "  {}: {} (mesh5xx explain {})",
                u.scenario, u.seen, u.scenario
            );
        }
    }
    out
}

fn table(out: &mut String, groups: &[GroupReport]) {
    let headers = [
        "#",
        "CODE",
        "FLAGS",
        "DIRECTION",
        "COUNT",
        "FIRST",
        "LAST",
        "CLUSTER",
        "SCENARIO",
    ];
    let rows: Vec<[String; 9]> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            [
                (i + 1).to_string(),
                g.code.to_string(),
                g.flags.clone(),
                g.direction.as_str().to_owned(),
                g.count.to_string(),
                g.first.clone().unwrap_or_else(|| "-".into()),
                g.last.clone().unwrap_or_else(|| "-".into()),
                g.cluster.clone().unwrap_or_else(|| "-".into()),
                g.scenario.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(out, &headers);
    for row in &rows {
        line(out, &row.each_ref().map(String::as_str));
    }
}

fn group(out: &mut String, n: usize, g: &GroupReport) {
    let _ = writeln!(
        out,
        "\n[{n}] {} {} {} ×{} → {}",
        g.direction.as_str(),
        g.code,
        g.flags,
        g.count,
        g.scenario.as_deref().unwrap_or("no lab scenario")
    );
    let _ = writeln!(out, "  evidence: {}", g.evidence);
    if let Some(b) = &g.bursts {
        let period = b
            .period_secs
            .map(|p| format!(", period ≈ {p} s"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  timeline: {} active {}(s) over {} s, peak {}/{}, {} burst(s){period}",
            b.active_intervals, b.resolution, b.span_secs, b.peak, b.resolution, b.bursts
        );
    }
    for note in &g.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    for fix in &g.mitigations {
        let _ = writeln!(out, "  fix: {}", fix.fix);
        if let Some(cost) = &fix.cost {
            let _ = writeln!(out, "       cost: {cost}");
        }
        if let Some(command) = &fix.measured_by {
            let _ = writeln!(out, "       measured by: {command}");
        }
    }
    if let Some(command) = &g.command {
        let _ = writeln!(out, "  reproduce: {command}");
    }
}
