//! The space-separated TEXT formats: Istio's of every generation and Envoy's default.
//!
//! [`parse_text`] reads a whole line that starts with `[%START_TIME%]` (the fast path);
//! [`parse_anchored`] reads what a pasted line holds around its response code: without
//! the timestamp, cut at either end, or in a custom format.

use crate::entry::{dash_none, Entry, Format};
use crate::tokenizer::Cursor;
use crate::{ParseError, RESPONSE_FLAGS};

/// What follows `%RESPONSE_FLAGS%`, which tells the TEXT formats apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Numbers straight away: Envoy's default (Istio 0.8–1.0), or a custom format.
    Bare,
    /// Quoted fields: Istio 1.1–1.8 (the mixer status and/or the transport failure reason).
    Legacy,
    /// Two detail words and a quoted transport failure reason: Istio ≥ 1.9.
    Current,
}

/// The fields after the flags, read left to right. `LENIENT` reading stops at the line's
/// end (a cut), dropping a last word the cut may have shortened; strict reading (the fast
/// path, compiled without the lenient checks) fails there.
struct Fields<'a, const LENIENT: bool> {
    c: Cursor<'a>,
    /// Fields read.
    read: usize,
}

impl<'a, const LENIENT: bool> Fields<'a, LENIENT> {
    /// `Ok(None)`: the line ends here (lenient only).
    #[inline(always)]
    fn word(&mut self, field: &'static str, may_end: bool) -> Result<Option<&'a str>, ParseError> {
        let at = self.c.offset();
        match self.c.word(field) {
            Ok(_) if LENIENT && !may_end && self.c.at_end() => Ok(None),
            Ok(w) => {
                self.read += 1;
                Ok(Some(w))
            }
            Err(_) if LENIENT && self.c.rest_from(at).is_empty() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A count. A last word that is not one is a mismatch, not a cut: a cut number is
    /// still digits.
    #[inline(always)]
    fn number(&mut self, field: &'static str) -> Result<Option<u64>, ParseError> {
        let at = self.c.offset();
        match self.opt_number(field)? {
            None => Ok(None),
            Some(Some(n)) => Ok(Some(n)),
            Some(None) => Err(ParseError::Field { field, offset: at }),
        }
    }

    /// A count or `-` (`Some(None)`).
    #[inline(always)]
    fn opt_number(&mut self, field: &'static str) -> Result<Option<Option<u64>>, ParseError> {
        let at = self.c.offset();
        let word = match self.c.word(field) {
            Ok(w) => w,
            Err(_) if LENIENT && self.c.rest_from(at).is_empty() => return Ok(None),
            Err(e) => return Err(e),
        };
        let value = match word {
            "-" => None,
            w => Some(
                crate::tokenizer::parse_u64(w).ok_or(ParseError::Field { field, offset: at })?,
            ),
        };
        if LENIENT && self.c.at_end() {
            return Ok(None);
        }
        self.read += 1;
        Ok(Some(value))
    }

    /// A `%RESPONSE_CODE_DETAILS%`-like word: `-`, or lower-case words joined by `_`,
    /// maybe followed by `{…}` or `(…)`. Lenient reading checks it, so that a custom
    /// format's field in its place is a mismatch.
    #[inline(always)]
    fn details(&mut self, field: &'static str) -> Result<Option<&'a str>, ParseError> {
        let at = self.c.offset();
        let word = self.word(field, false)?;
        if let Some(w) = word.filter(|_| LENIENT) {
            let name = w.split(['{', '(']).next().unwrap_or(w);
            let ok = w == "-"
                || (name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            if !ok {
                return Err(ParseError::Field { field, offset: at });
            }
        }
        Ok(word)
    }

    /// A quoted field; one its closing quote ends is whole even at the line's end.
    #[inline(always)]
    fn quoted(&mut self, field: &'static str) -> Result<Option<&'a str>, ParseError> {
        let at = self.c.offset();
        match self.c.quoted(field) {
            Ok(q) => {
                self.read += 1;
                Ok(Some(q))
            }
            Err(_) if LENIENT && matches!(self.c.rest_from(at).as_bytes(), [] | [b'"', ..]) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Reads a field or, when the line ends before it, returns the entry read so far.
macro_rules! field {
    ($read:expr, $e:ident) => {
        match $read? {
            Some(value) => value,
            None => {
                $e.partial = true;
                return Ok(());
            }
        }
    };
}

/// Parses a whole line that starts with `[%START_TIME%]`.
pub(crate) fn parse_text<'a>(line: &'a str, e: &mut Entry<'a>) -> Result<(), ParseError> {
    let mut c = Cursor::new(line);
    *e = Entry::empty(Format::IstioLegacy);

    e.start_time = c.bracketed("start_time")?;
    if !e.start_time.as_bytes()[0].is_ascii_digit() {
        return Err(ParseError::Field {
            field: "start_time",
            offset: 1,
        });
    }
    let at = c.offset();
    let request = c.quoted("request")?;
    (e.method, e.path, e.protocol) = split_request(request).ok_or(ParseError::Field {
        field: "request",
        offset: at,
    })?;
    let at = c.offset();
    e.response_code = u16::try_from(c.number("response_code")?)
        .ok()
        .filter(|&code| code <= 999)
        .ok_or(ParseError::Field {
            field: "response_code",
            offset: at,
        })?;
    let at = c.offset();
    e.response_flags = c.word("response_flags")?;
    if !valid_flags(e.response_flags) {
        return Err(ParseError::Field {
            field: "response_flags",
            offset: at,
        });
    }
    let mut f = Fields::<false> { c, read: 0 };
    tail(&mut f, e)
}

/// Parses the fields after `%RESPONSE_FLAGS%`, setting the entry's format. Strict: every
/// field of the layout, nothing after. Lenient: up to the line's end, anything after the
/// last field ignored (a custom format's additions).
#[inline(always)]
fn tail<'a, const LENIENT: bool>(
    f: &mut Fields<'a, LENIENT>,
    e: &mut Entry<'a>,
) -> Result<(), ParseError> {
    let layout = match (f.c.next_byte(), f.c.nth_byte(2)) {
        (Some(b'"'), _) => Layout::Legacy,
        (_, Some(b'"')) => Layout::Current,
        (Some(b'0'..=b'9'), _) => Layout::Bare,
        (Some(_), _) if LENIENT => Layout::Current,
        (None, _) if LENIENT => {
            e.format = Format::CustomText;
            e.partial = true;
            return Ok(());
        }
        _ => Layout::Bare,
    };
    e.format = match layout {
        Layout::Current => Format::IstioCurrent,
        Layout::Legacy => Format::IstioLegacy,
        Layout::Bare => Format::EnvoyDefault,
    };
    // Istio 1.1 logs the mixer status alone, 1.8 the transport failure reason alone,
    // 1.2–1.7 both: which one a single quoted field is shows at the end.
    let mut single_quoted = None;
    match layout {
        Layout::Bare => {}
        Layout::Legacy => {
            let first = field!(f.quoted("mixer_status"), e);
            if f.c.next_byte() == Some(b'"') {
                e.upstream_transport_failure_reason =
                    dash_none(field!(f.quoted("upstream_transport_failure_reason"), e));
            } else {
                single_quoted = Some(first);
            }
        }
        Layout::Current => {
            e.response_code_details = dash_none(field!(f.details("response_code_details"), e));
            e.connection_termination_details =
                dash_none(field!(f.details("connection_termination_details"), e));
            e.upstream_transport_failure_reason =
                dash_none(field!(f.quoted("upstream_transport_failure_reason"), e));
        }
    }

    e.bytes_received = field!(f.number("bytes_received"), e);
    e.bytes_sent = field!(f.number("bytes_sent"), e);
    e.duration_ms = field!(f.opt_number("duration"), e);
    e.upstream_service_time = field!(f.opt_number("upstream_service_time"), e);
    e.x_forwarded_for = dash_none(field!(f.quoted("x_forwarded_for"), e));
    e.user_agent = dash_none(field!(f.quoted("user_agent"), e));
    e.request_id = dash_none(field!(f.quoted("request_id"), e));
    e.authority = dash_none(field!(f.quoted("authority"), e));
    e.upstream_host = dash_none(field!(f.quoted("upstream_host"), e));

    if f.c.at_end() {
        if layout == Layout::Bare {
            return Ok(());
        }
        if LENIENT {
            e.partial = true;
            return Ok(());
        }
        return Err(f.c.error("upstream_cluster"));
    }
    if layout == Layout::Bare {
        if LENIENT {
            // Envoy's default with fields added after it.
            return Ok(());
        }
        // Istio before the mixer status field: the cluster fields follow.
        e.format = Format::IstioLegacy;
    }
    e.upstream_cluster = dash_none(crate::cluster_name(field!(
        f.word("upstream_cluster", false),
        e
    )));
    e.upstream_local_address = dash_none(field!(f.word("upstream_local_address", false), e));
    e.downstream_local_address = dash_none(field!(f.word("downstream_local_address", false), e));
    e.downstream_remote_address = dash_none(field!(f.word("downstream_remote_address", false), e));
    // Istio before 1.3 ends here (`%REQUESTED_SERVER_NAME%`), later versions with
    // `%ROUTE_NAME%`.
    let sni_may_end = layout != Layout::Current;
    e.requested_server_name = dash_none(field!(f.word("requested_server_name", sni_may_end), e));
    if !f.c.at_end() {
        e.route_name = dash_none(field!(f.word("route_name", true), e));
        // Istio 1.8: the transport failure reason without the mixer status.
        if let Some(reason) = single_quoted {
            e.upstream_transport_failure_reason = dash_none(reason);
        }
    }
    if !f.c.at_end() && !LENIENT {
        return Err(ParseError::TrailingData {
            offset: f.c.offset(),
        });
    }
    Ok(())
}

/// Parses the part of a pasted line around its response code, which starts at byte
/// `code_at` of `text` (see [`find_code`]): the request and the start time before it, if
/// the line holds them, and the fields after the flags as far as the line goes.
pub(crate) fn parse_anchored(text: &str, code_at: usize) -> Result<Entry<'_>, ParseError> {
    let mut e = Entry::empty(Format::CustomText);
    let head = read_head(&text[..code_at], &mut e);

    let mut c = Cursor::new(&text[code_at..]);
    let code = c.word("response_code")?;
    e.response_code = code.parse().map_err(|_| c.error("response_code"))?;
    e.response_flags = c.word("response_flags")?;
    let mut f = Fields::<true> { c, read: 0 };
    let tail_read = tail(&mut f, &mut e);
    e.partial |= !head.timestamp || !head.request;
    // What makes the code and flags an Envoy entry's: Envoy's `[YYYY-MM-DDT…]` start, a
    // known layout after the flags (three fields of it at least), or a request followed
    // by flags only Envoy writes (an Apache `"GET / HTTP/1.0" 304 -` is none of these).
    let trusted = head.iso_timestamp
        || f.read >= 3
        || (head.request && e.response_flags != "-" && known_flags(e.response_flags));
    match tail_read {
        Ok(()) if trusted => Ok(e),
        Ok(()) => Err(ParseError::UnknownFormat),
        // A custom format: its fields after the flags are not the ones we know; only
        // what comes before them is read.
        Err(_) if head.iso_timestamp && head.request => {
            let mut bare = Entry::empty(Format::CustomText);
            (bare.start_time, bare.method, bare.path, bare.protocol) =
                (e.start_time, e.method, e.path, e.protocol);
            (bare.response_code, bare.response_flags) = (e.response_code, e.response_flags);
            Ok(bare)
        }
        Err(err) => Err(err.shifted(code_at)),
    }
}

/// What the text before the response code held.
struct Head {
    timestamp: bool,
    iso_timestamp: bool,
    request: bool,
}

/// Reads `[START_TIME] "METHOD PATH PROTOCOL"` (or an unquoted request line) backwards
/// from the end of `head`, as far as it goes.
fn read_head<'a>(head: &'a str, e: &mut Entry<'a>) -> Head {
    let mut found = Head {
        timestamp: false,
        iso_timestamp: false,
        request: false,
    };
    let head = head.trim_end_matches(' ');
    let before = if let Some(inner) = head.strip_suffix('"') {
        // The request's opening quote: the last one before the closing quote.
        let Some(open) = inner.rfind('"') else {
            return found;
        };
        match split_request(&inner[open + 1..]) {
            Some(request) => (e.method, e.path, e.protocol) = request,
            None => return found,
        }
        &inner[..open]
    } else {
        // An unquoted request line (`… GET /path HTTP/1.1 503 UF`).
        let mut words = head.rsplitn(4, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some(protocol), Some(path), Some(method))
                if protocol.starts_with("HTTP/") && is_method(method) =>
            {
                (e.method, e.path, e.protocol) = (method, path, protocol);
                words.next().unwrap_or("")
            }
            _ => return found,
        }
    };
    found.request = true;
    let before = before.trim_end_matches(' ');
    if let Some(inner) = before.strip_suffix(']') {
        if let Some(open) = inner.rfind('[') {
            let time = &inner[open + 1..];
            if time.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                e.start_time = time;
                found.timestamp = true;
                found.iso_timestamp = is_iso_time(time);
            }
        }
    }
    found
}

/// `YYYY-MM-DDT…`, the shape of Envoy's default `%START_TIME%`.
pub(crate) fn is_iso_time(time: &str) -> bool {
    let b = time.as_bytes();
    b.len() >= 11
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
}

/// An HTTP method, or `-` (TCP).
fn is_method(word: &str) -> bool {
    word == "-" || (!word.is_empty() && word.bytes().all(|b| b.is_ascii_uppercase()))
}

/// Where a pasted line's response code starts: the first `CODE FLAGS` pair (a code of
/// one to three digits, then `-` or flag names) after the request's closing quote, after
/// an unquoted `HTTP/…` protocol, or at the very start of `text` (a line cut just before
/// it). Flags the line ends with must all be Envoy's, or they may have been cut short.
pub(crate) fn find_code(text: &str) -> Option<usize> {
    // One pass over the bytes: noise lines come this way too.
    let bytes = text.as_bytes();
    let word_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(bytes.len(), |n| from + n)
    };
    let mut after_request = true;
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] == b' ' {
            pos += 1;
            continue;
        }
        let end = word_end(pos);
        let word = &bytes[pos..end];
        if after_request
            && (1..=3).contains(&word.len())
            && word.iter().all(u8::is_ascii_digit)
            && end < bytes.len()
        {
            let flags_end = word_end(end + 1);
            let flags = &text[end + 1..flags_end];
            let last = flags_end == bytes.len();
            if !flags.is_empty() && valid_flags(flags) && (!last || known_flags(flags)) {
                return Some(pos);
            }
        }
        after_request = word.last() == Some(&b'"') || word.starts_with(b"HTTP/");
        pos = end;
    }
    None
}

/// Splits `METHOD PATH PROTOCOL`; the path may itself hold spaces.
#[inline(always)]
fn split_request(request: &str) -> Option<(&str, &str, &str)> {
    use crate::tokenizer::{between, find_byte};
    let bytes = request.as_bytes();
    let first = find_byte(b' ', bytes)?;
    // The protocol is a few bytes at the end: a search back from there is over at once.
    let last = bytes.iter().rposition(|&b| b == b' ')?;
    if first == last || first == 0 || last + 1 == bytes.len() {
        return None;
    }
    // Each boundary is next to a space.
    let method = between(request, 0, first);
    if method.bytes().any(|b| b == b'"') {
        return None;
    }
    let path = between(request, first + 1, last);
    Some((method, path, between(request, last + 1, bytes.len())))
}

/// `-`, or upper-case flag names joined by commas.
fn valid_flags(flags: &str) -> bool {
    flags == "-" || flags.bytes().all(|b| b.is_ascii_uppercase() || b == b',')
}

/// `-`, or flag names that are all Envoy's ([`RESPONSE_FLAGS`]).
pub(crate) fn known_flags(flags: &str) -> bool {
    flags == "-" || flags.split(',').all(|f| RESPONSE_FLAGS.contains(&f))
}
