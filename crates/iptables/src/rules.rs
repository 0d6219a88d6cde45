//! Rendered rules: the operations istio-iptables issues, in its order, and the forms they are
//! read in — `iptables-restore` input, the era's own command lines, and the table state
//! `iptables-save` prints once they are applied.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::Era;

/// IPv4 (`iptables`) or IPv6 (`ip6tables`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `iptables`.
    V4,
    /// `ip6tables`.
    V6,
}

impl Family {
    /// The command istio-iptables runs.
    pub fn command(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verb {
    New,
    Append,
    Insert(u32),
    Flush,
}

/// One iptables operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Op {
    pub family: Family,
    pub table: &'static str,
    pub verb: Verb,
    pub chain: String,
    /// The rule's matches and target, as istio writes them.
    pub spec: String,
    /// Whether istio's command names the table (`-t`); the scripts' ip6tables filter rules
    /// do not.
    pub explicit_table: bool,
}

impl Op {
    /// `-A CHAIN SPEC`, `-I CHAIN N SPEC`, `-N CHAIN`, `-F CHAIN`.
    fn params(&self) -> String {
        match &self.verb {
            Verb::New => format!("-N {}", self.chain),
            Verb::Flush => format!("-F {}", self.chain),
            Verb::Append => format!("-A {} {}", self.chain, self.spec),
            Verb::Insert(pos) => format!("-I {} {pos} {}", self.chain, self.spec),
        }
    }
}

/// The rules istio-iptables of one era writes for one [`CaptureConfig`](crate::CaptureConfig).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub(crate) era: Era,
    pub(crate) ops: Vec<Op>,
}

impl Rules {
    /// The era they were rendered for.
    pub fn era(&self) -> Era {
        self.era
    }

    /// Whether any rule is for `family` (the scripts write IPv6 filter rules for IPv4 pods).
    pub fn writes(&self, family: Family) -> bool {
        self.ops.iter().any(|op| op.family == family)
    }

    /// The command lines, in the order istio-iptables issues them, as its dry runs and
    /// golden files print them: `iptables -t nat -A ISTIO_OUTPUT …` (the scripts' IPv6
    /// filter rules without `-t`; the Go eras' `-N` lines first, as their builder puts them).
    pub fn commands(&self) -> Vec<String> {
        self.ops
            .iter()
            .map(|op| {
                if op.explicit_table {
                    format!("{} -t {} {}", op.family.command(), op.table, op.params())
                } else {
                    format!("{} {}", op.family.command(), op.params())
                }
            })
            .collect()
    }

    /// `iptables-restore --noflush` input for `family` (empty when nothing is written):
    /// tables in name order, each `* TABLE`, its operations in order, `COMMIT` — the Go
    /// eras' own input byte for byte (pkg/builder/iptables_builder_impl.go@1.24.0 L364-416;
    /// @1.13.0 L179-217 iterates a Go map, so its table order varies from run to run); for
    /// the scripts, their commands in the same form.
    pub fn restore(&self, family: Family) -> String {
        let mut tables: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for op in self.ops.iter().filter(|op| op.family == family) {
            tables.entry(op.table).or_default().push(op.params());
        }
        let mut out = String::new();
        for (table, lines) in tables {
            out.push_str(&format!("* {table}\n"));
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
            out.push_str("COMMIT\n");
        }
        out
    }

    /// The tables as [`normalise`] prints `iptables-save` once these rules are applied to
    /// empty tables: each chain's final rules, written as the kernel gives them back.
    pub fn expected_dump(&self, family: Family) -> String {
        let mut state = State::default();
        for op in self.ops.iter().filter(|op| op.family == family) {
            let table = state.tables.entry(op.table.to_string()).or_default();
            match &op.verb {
                Verb::New => {
                    table.user.insert(op.chain.clone());
                }
                Verb::Flush => table.rules.entry(op.chain.clone()).or_default().clear(),
                Verb::Append => table
                    .rules
                    .entry(op.chain.clone())
                    .or_default()
                    .push(canonical_rule(&op.spec, family)),
                Verb::Insert(pos) => {
                    let rules = table.rules.entry(op.chain.clone()).or_default();
                    let at = (*pos as usize).saturating_sub(1).min(rules.len());
                    rules.insert(at, canonical_rule(&op.spec, family));
                }
            }
        }
        state.print()
    }
}

/// Tables as chains and their rules.
#[derive(Default)]
struct State {
    tables: BTreeMap<String, Table>,
}

#[derive(Default)]
struct Table {
    user: BTreeSet<String>,
    rules: BTreeMap<String, Vec<String>>,
}

/// The built-in chains, in the order iptables-save lists them.
const BUILT_IN: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

impl State {
    fn print(&self) -> String {
        let mut out = String::new();
        for (name, table) in &self.tables {
            if table.user.is_empty() && table.rules.values().all(Vec::is_empty) {
                continue;
            }
            out.push_str(&format!("*{name}\n"));
            for chain in &table.user {
                out.push_str(&format!(":{chain}\n"));
            }
            let mut chains: Vec<&String> = table.rules.keys().collect();
            chains.sort_by_key(|c| {
                let pos = BUILT_IN.iter().position(|b| b == c);
                (pos.unwrap_or(BUILT_IN.len()), (*c).clone())
            });
            for chain in chains {
                for rule in &table.rules[chain] {
                    out.push_str(&format!("-A {chain} {rule}\n"));
                }
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// `iptables-save` output as a comparable text: comments, counters and built-in chain
/// policies dropped, user chains sorted, rules grouped by chain (built-in chains first, in
/// their order; rules in chain order) and written the way the kernel gives them back
/// (see [`Rules::expected_dump`]). Empty tables are left out.
pub fn normalise(save: &str, family: Family) -> String {
    let mut state = State::default();
    let mut table: Option<String> = None;
    for line in save.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line == "COMMIT" {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            let name = name.trim().to_string();
            state.tables.entry(name.clone()).or_default();
            table = Some(name);
            continue;
        }
        let Some(current) = table.as_ref().and_then(|t| state.tables.get_mut(t)) else {
            continue;
        };
        if let Some(chain) = line.strip_prefix(':') {
            let mut parts = chain.split_whitespace();
            if let (Some(name), Some("-")) = (parts.next(), parts.next()) {
                current.user.insert(name.to_string());
            }
            continue;
        }
        // `[packets:bytes] -A CHAIN …` with -c.
        let line = match line.strip_prefix('[') {
            Some(rest) => rest.split_once(']').map_or(line, |(_, r)| r.trim_start()),
            None => line,
        };
        if let Some(rest) = line.strip_prefix("-A ") {
            let (chain, spec) = rest.split_once(' ').unwrap_or((rest, ""));
            current
                .rules
                .entry(chain.to_string())
                .or_default()
                .push(canonical_rule(spec, family));
        }
    }
    state.print()
}

/// A rule's matches and target as iptables-save prints them: source, destination,
/// interfaces and protocol first, each match module named (`--dport` loads `-m tcp`/`-m udp`),
/// addresses with their prefix and masked, REDIRECT's `--to-port` as `--to-ports`, REJECT with
/// its default `--reject-with`.
pub(crate) fn canonical_rule(spec: &str, family: Family) -> String {
    let tokens: Vec<&str> = spec.split_whitespace().collect();
    let mut basic: [Option<String>; 5] = Default::default(); // -s -d -i -o -p
    let mut matches: Vec<String> = Vec::new();
    let mut target: Vec<String> = Vec::new();
    let mut module: Option<String> = None;
    let mut negate = false;
    let mut i = 0;
    while i < tokens.len() {
        let tok = tokens[i];
        let next = tokens.get(i + 1).copied().unwrap_or("");
        let not = if negate { "! " } else { "" };
        let slot = match tok {
            "-s" | "--source" => Some(0),
            "-d" | "--destination" => Some(1),
            "-i" | "--in-interface" => Some(2),
            "-o" | "--out-interface" => Some(3),
            "-p" | "--protocol" => Some(4),
            _ => None,
        };
        if tok == "!" {
            negate = true;
            i += 1;
            continue;
        }
        if let Some(slot) = slot {
            let value = if slot < 2 {
                address(next, family)
            } else {
                next.to_string()
            };
            basic[slot] = Some(format!("{not}{tok} {value}", tok = short(tok)));
            i += 2;
        } else if tok == "-m" || tok == "--match" {
            module = Some(next.to_string());
            matches.push(format!("-m {next}"));
            i += 2;
        } else if tok == "-j" || tok == "--jump" {
            target = tokens[i..].iter().map(|t| t.to_string()).collect();
            break;
        } else {
            if module.is_none() {
                // --dport/--sport without -m: the protocol's match module, loaded implicitly.
                let proto = basic[4]
                    .as_deref()
                    .and_then(|p| p.rsplit(' ').next())
                    .unwrap_or("tcp")
                    .to_string();
                matches.push(format!("-m {proto}"));
                module = Some(proto);
            }
            let option = match tok {
                "--destination-port" => "--dport",
                "--source-port" => "--sport",
                other => other,
            };
            let mut values = Vec::new();
            let mut j = i + 1;
            while j < tokens.len() && !tokens[j].starts_with('-') && tokens[j] != "!" {
                values.push(tokens[j]);
                j += 1;
            }
            let value = if values.is_empty() {
                String::new()
            } else {
                format!(" {}", values.join(" "))
            };
            matches.push(format!("{not}{option}{value}"));
            i = j;
        }
        negate = false;
    }
    canonical_target(&mut target, family);
    let mut out: Vec<String> = basic.into_iter().flatten().collect();
    out.extend(matches);
    out.extend(target);
    out.join(" ")
}

fn short(option: &str) -> &str {
    match option {
        "--source" => "-s",
        "--destination" => "-d",
        "--in-interface" => "-i",
        "--out-interface" => "-o",
        "--protocol" => "-p",
        other => other,
    }
}

/// `ADDR` → `ADDR/32` (`/128`), host bits cleared.
fn address(value: &str, family: Family) -> String {
    match family {
        Family::V4 => {
            let (addr, bits) = value.split_once('/').unwrap_or((value, "32"));
            match (addr.parse::<Ipv4Addr>(), bits.parse::<u8>()) {
                (Ok(addr), Ok(bits)) if bits <= 32 => crate::Cidr { addr, bits }.masked(),
                _ => value.to_string(),
            }
        }
        Family::V6 if value.contains('/') => value.to_string(),
        Family::V6 => format!("{value}/128"),
    }
}

fn canonical_target(target: &mut Vec<String>, family: Family) {
    match target.get(1).map(String::as_str) {
        Some("REDIRECT") => {
            for t in target.iter_mut() {
                if t == "--to-port" {
                    *t = "--to-ports".to_string();
                }
            }
        }
        Some("REJECT") if !target.iter().any(|t| t == "--reject-with") => {
            target.push("--reject-with".to_string());
            target.push(
                match family {
                    Family::V4 => "icmp-port-unreachable",
                    Family::V6 => "icmp6-port-unreachable",
                }
                .to_string(),
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_written_as_iptables_save_gives_them_back() {
        let v4 = |s| canonical_rule(s, Family::V4);
        // As read back from iptables-legacy-save 1.8.9 after restoring istio's lines.
        assert_eq!(
            v4("-o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT"),
            "! -d 127.0.0.1/32 -o lo -p tcp -m tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT"
        );
        assert_eq!(
            v4("-p udp --dport 53 -d 127.0.0.53/32 -j REDIRECT --to-port 15053"),
            "-d 127.0.0.53/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053"
        );
        assert_eq!(
            v4("-o lo -p tcp -m multiport ! --dports 53,15008 -j RETURN"),
            "-o lo -p tcp -m multiport ! --dports 53,15008 -j RETURN"
        );
        assert_eq!(v4("-d 127.1.2.3/8 -j RETURN"), "-d 127.0.0.0/8 -j RETURN");
        assert_eq!(
            canonical_rule("-i lo -d ::1 -j ACCEPT", Family::V6),
            "-d ::1/128 -i lo -j ACCEPT"
        );
        assert_eq!(
            canonical_rule("-j REJECT", Family::V6),
            "-j REJECT --reject-with icmp6-port-unreachable"
        );
        // Idempotent on iptables-save's own lines.
        let saved = "! -d 127.0.0.1/32 -o lo -p tcp -m tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT";
        assert_eq!(v4(saved), saved);
    }

    #[test]
    fn a_save_is_normalised_without_comments_counters_or_policies() {
        let save = "# Generated by iptables-save v1.8.9\n*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [3:180]\n:OUTPUT ACCEPT [0:0]\n:ISTIO_X - [0:0]\n[1:60] -A ISTIO_X -j RETURN\n-A OUTPUT -p tcp -j ISTIO_X\nCOMMIT\n# Completed\n";
        assert_eq!(
            normalise(save, Family::V4),
            "*nat\n:ISTIO_X\n-A OUTPUT -p tcp -j ISTIO_X\n-A ISTIO_X -j RETURN\nCOMMIT\n"
        );
    }
}
