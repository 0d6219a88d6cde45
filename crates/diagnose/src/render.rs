//! The human-readable report: a table of groups, then evidence, fixes and commands.

use std::fmt::Write;

use crate::{Diagnosis, GroupReport, Sample};

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
    if d.partial > 0 {
        let _ = writeln!(
            out,
            "{} entries from lines without a timestamp or cut short: their code and flags count, not the fields they lack",
            d.partial
        );
    }
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
        let _ = writeln!(out, "\nNo 5xx responses, and no line with a response flag.");
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
            "\n{} more failed entries in groups beyond the first 10000",
            d.ungrouped
        );
    }
    unread(&mut out, d);
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

/// The lines not read, by reason (how many, the first one), then the sampled lines the
/// reasons' examples do not already show.
fn unread(out: &mut String, d: &Diagnosis) {
    if d.unread.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{} lines not read:", d.unparsed);
    let width = d.unread.iter().map(|u| u.lines.to_string().len()).max();
    let reason_width = d.unread.iter().map(|u| u.reason.chars().count()).max();
    for u in &d.unread {
        let (w, rw) = (width.unwrap_or(1), reason_width.unwrap_or(0));
        let first = &u.first;
        let excerpt = if first.text.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", first.text)
        };
        let _ = writeln!(
            out,
            "  {:>w$}  {:<rw$}  first {}:{}{excerpt}",
            u.lines, u.reason, first.input, first.line
        );
    }
    let shown = |s: &&Sample| {
        !d.unread
            .iter()
            .any(|u| u.first.input == s.input && u.first.line == s.line)
    };
    let more: Vec<&Sample> = d.unparsed_samples.iter().filter(shown).collect();
    if !more.is_empty() {
        let _ = writeln!(out, "More of them:");
        for s in more {
            let _ = writeln!(out, "  {}:{}: {} [{}]", s.input, s.line, s.text, s.reason);
        }
    }
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
                scenario_cell(g),
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

/// The scenario, or the known cause in parentheses.
fn scenario_cell(g: &GroupReport) -> String {
    match (&g.scenario, &g.known_cause) {
        (Some(scenario), _) => scenario.clone(),
        (None, Some(known)) => format!("({})", known.cause),
        (None, None) => "-".into(),
    }
}

fn group(out: &mut String, n: usize, g: &GroupReport) {
    let named = match (&g.scenario, &g.known_cause) {
        (Some(scenario), _) => scenario.clone(),
        (None, Some(known)) => format!("{}, not a fault of the mesh", known.cause),
        (None, None) => "no lab scenario".into(),
    };
    let _ = writeln!(
        out,
        "\n[{n}] {} {} {} ×{} → {named}",
        g.direction.as_str(),
        g.code,
        g.flags,
        g.count,
    );
    if let Some(known) = &g.known_cause {
        let _ = writeln!(out, "  cause: {}", known.explanation);
    }
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
