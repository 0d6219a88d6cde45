//! The text form of one fault on the command line, `--fault SPEC`:
//!
//! - `NAME`: the fault with its default parameters (an error naming the missing field when it
//!   has none);
//! - `NAME:key=value,key=value`: scalar parameters; a dotted key reaches into a map
//!   (`status:codes.503=5`); values are numbers, `true`/`false`, or words;
//! - `NAME=JSON`: any parameters, e.g. `down={"windows":[{"at_ms":2000,"for_ms":2000}]}`.

use serde_json::{Map, Value};

use crate::faults::{unknown_fault, AppFault, FaultKind};

/// Parse and validate one SPEC; the error names the fault and the field.
pub(crate) fn parse(spec: &str) -> Result<AppFault, String> {
    let (name, rest) = match spec.find([':', '=']) {
        Some(i) => (&spec[..i], Some((&spec[i..i + 1], &spec[i + 1..]))),
        None => (spec, None),
    };
    let name = name.trim();
    let kind = FaultKind::from_name(name).ok_or_else(|| unknown_fault(name))?;
    let params = match rest {
        None => Value::Object(Map::new()),
        Some((":", pairs)) => pairs_to_json(kind, pairs)?,
        Some((_, json)) => serde_json::from_str(json)
            .map_err(|e| format!("{name}: the parameters are not JSON ({e})"))?,
    };
    let fault = kind.with_params(params).map_err(|e| e.to_string())?;
    fault.validate().map_err(|e| e.to_string())?;
    Ok(fault)
}

/// The SPEC of `fault`: `NAME:key=value,…` when every parameter is a scalar that reads back
/// the same, `NAME=JSON` otherwise. [`parse`] gives back an equal fault.
pub(crate) fn format(fault: &AppFault) -> String {
    let name = fault.name();
    let params = fault.params_json();
    let mut pairs = Vec::new();
    match &params {
        Value::Object(map) if map.is_empty() => name.to_string(),
        Value::Object(map) if flatten("", map, &mut pairs) => {
            format!("{name}:{}", pairs.join(","))
        }
        _ => format!("{name}={params}"),
    }
}

/// `key=value,…` as a JSON object.
fn pairs_to_json(kind: FaultKind, pairs: &str) -> Result<Value, String> {
    let name = kind.name();
    let mut root = Map::new();
    for pair in pairs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("{name}: `{pair}` is not key=value"))?;
        let key = key.trim();
        let path: Vec<&str> = key.split('.').collect();
        if path.iter().any(|k| k.is_empty()) {
            return Err(format!("{name}: `{key}` is not a parameter name"));
        }
        let (last, parents) = path.split_last().expect("split gives one part at least");
        let mut map = &mut root;
        for parent in parents {
            let entry = map
                .entry(parent.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            map = entry
                .as_object_mut()
                .ok_or_else(|| format!("{name}.{key}: {parent} is given twice"))?;
        }
        if map.insert(last.to_string(), scalar(value.trim())).is_some() {
            return Err(format!("{name}.{key}: given twice"));
        }
    }
    Ok(Value::Object(root))
}

/// A command-line value as JSON: a number, `true`/`false`, or else a string.
fn scalar(text: &str) -> Value {
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(n) = text.parse::<u64>() {
        return n.into();
    }
    if let Ok(n) = text.parse::<i64>() {
        return n.into();
    }
    match text
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    {
        Some(n) if !text.is_empty() => Value::Number(n),
        _ => Value::String(text.to_string()),
    }
}

/// Append `map` as `key=value` pairs under `prefix`; `false` when some value has no such
/// form that reads back the same (a list, a null, an awkward string or key).
fn flatten(prefix: &str, map: &Map<String, Value>, out: &mut Vec<String>) -> bool {
    for (key, value) in map {
        if key.is_empty() || key.contains(['.', ',', '=', ':']) || key.trim() != key {
            return false;
        }
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) => {
                if inner.is_empty() || !flatten(&path, inner, out) {
                    return false;
                }
            }
            Value::Bool(_) | Value::Number(_) => out.push(format!("{path}={value}")),
            Value::String(s) => {
                if s.contains(',') || scalar(s) != *value || s.trim() != s {
                    return false;
                }
                out.push(format!("{path}={s}"));
            }
            Value::Array(_) | Value::Null => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{CloseMode, Down, Fault, IdleClose, MaxRequests, Status};

    #[test]
    fn scalar_specs_read_as_parameters() {
        assert_eq!(
            parse("idle-close:after_ms=20").unwrap(),
            AppFault::IdleClose(IdleClose { after_ms: 20 })
        );
        assert_eq!(
            parse("max-requests:count=3,mode=abrupt").unwrap(),
            AppFault::MaxRequests(MaxRequests {
                count: 3,
                mode: CloseMode::Abrupt
            })
        );
        assert_eq!(
            parse("status:codes.503=5,codes.500=1.0").unwrap(),
            AppFault::Status(Status {
                codes: [(500, 1.0), (503, 5.0)].into_iter().collect()
            })
        );
    }

    #[test]
    fn a_bare_name_takes_the_defaults() {
        assert_eq!(
            parse("max-requests").unwrap(),
            AppFault::MaxRequests(MaxRequests::default())
        );
        let err = parse("lifetime").unwrap_err();
        assert_eq!(err, "lifetime: missing field `after_ms`");
    }

    #[test]
    fn json_specs_read_as_parameters() {
        let down =
            parse(r#"down={"windows":[{"at_ms":2000,"for_ms":2000}],"after_first_request":true}"#)
                .unwrap();
        let AppFault::Down(Down {
            windows,
            after_first_request,
        }) = down
        else {
            panic!("{down:?}");
        };
        assert_eq!((windows.len(), after_first_request), (1, true));
    }

    #[test]
    fn errors_name_the_fault_and_the_field() {
        let cases = [
            (
                "max-requests:count=0",
                "max-requests.count: 0 is not a positive number",
            ),
            ("max-requests:count=x", "max-requests.count: invalid type"),
            (
                "max-requests:mode=rude",
                "max-requests.mode: unknown variant `rude`",
            ),
            (
                "max-requests:cnt=3",
                "max-requests.cnt: unknown field `cnt`",
            ),
            ("delay:ms", "delay: `ms` is not key=value"),
            ("delay:ms=1,ms=2", "delay.ms: given twice"),
            ("delay={ms:1}", "delay: the parameters are not JSON"),
            (
                r#"down={"windows":[{"at_ms":1,"for_ms":0}]}"#,
                "down.windows[0].for_ms: 0 is not a positive number",
            ),
            (
                "status:codes.503=101",
                "status.codes.503: 101 is not a percentage",
            ),
            (
                "idle-timeout:after_ms=1",
                "unknown fault `idle-timeout`; the faults are idle-close,",
            ),
        ];
        for (spec, want) in cases {
            let err = parse(spec).unwrap_err();
            assert!(
                err.starts_with(want),
                "{spec}: {err:?} should start with {want:?}"
            );
        }
    }

    #[test]
    fn every_example_formats_to_a_spec_that_parses_back() {
        for kind in FaultKind::ALL {
            let fault = kind.example();
            let spec = format(&fault);
            assert_eq!(parse(&spec).unwrap(), fault, "{spec}");
        }
        let idle = AppFault::IdleClose(IdleClose { after_ms: 20 });
        assert_eq!(format(&idle), "idle-close:after_ms=20");
        let status = AppFault::Status(Status::example());
        assert_eq!(format(&status), "status:codes.500=1.0,codes.503=5.0");
        assert!(format(&AppFault::Down(Down::example())).starts_with("down={"));
    }

    #[test]
    fn strings_that_would_read_back_otherwise_are_not_scalars() {
        assert_eq!(scalar("5"), Value::from(5u64));
        assert_eq!(scalar("-5"), Value::from(-5i64));
        assert_eq!(scalar("0.25"), Value::from(0.25));
        assert_eq!(scalar("true"), Value::Bool(true));
        assert_eq!(scalar("drop"), Value::from("drop"));
        let mut out = Vec::new();
        let map = serde_json::json!({"a": "5"});
        assert!(!flatten("", map.as_object().unwrap(), &mut out));
    }
}
