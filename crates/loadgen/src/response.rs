//! HTTP/1.1 response parsing: the head (status, framing, keep-alive, response flags)
//! and a chunked-body decoder. Bodies are only framed, never kept.

use crate::outcome::FlagText;

/// Most response headers looked at.
const MAX_HEADERS: usize = 64;

/// A malformed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// The parsed head of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// Status code.
    pub(crate) status: u16,
    /// Bytes of the head, blank line included.
    pub(crate) len: usize,
    /// How the body is delimited.
    pub(crate) framing: Framing,
    /// The connection may carry another request afterwards.
    pub(crate) keep_alive: bool,
    /// Value of the response-flags header (`-` when absent).
    pub(crate) flag: FlagText,
}

/// Parse a response head from the start of `buf`; `Ok(None)` when more bytes are needed.
pub(crate) fn parse_head(
    buf: &[u8],
    flags_header: &str,
    head_request: bool,
) -> Result<Option<Head>, Malformed> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Malformed),
    };
    let status = response.code.ok_or(Malformed)?;
    let mut keep_alive = response.version == Some(1);
    let mut framing = Framing::UntilClose;
    let mut flag = FlagText::NONE;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            if framing != Framing::Chunked {
                framing = Framing::Length(parse_length(header.value)?);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if has_token(header.value, "chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            if has_token(header.value, "close") {
                keep_alive = false;
            } else if has_token(header.value, "keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case(flags_header) {
            flag = FlagText::new(header.value);
        }
    }
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        framing = Framing::Empty;
    }
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    Ok(Some(Head {
        status,
        len,
        framing,
        keep_alive,
        flag,
    }))
}

fn parse_length(value: &[u8]) -> Result<u64, Malformed> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Malformed);
    }
    Ok(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Incremental decoder of a chunked body that discards the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// Reading a chunk-size line (`ext`: inside a chunk extension).
    Size { size: u64, digits: u8, ext: bool },
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// After chunk data, expecting its line end.
    DataEnd,
    /// In the trailer section (`empty`: the current line is empty so far).
    Trailer { empty: bool },
    /// The body is complete.
    Done,
}

impl Chunked {
    /// A decoder at the start of a body.
    pub(crate) const START: Chunked = Chunked::Size {
        size: 0,
        digits: 0,
        ext: false,
    };

    /// Consume bytes from `input`; returns how many were consumed. Stops at the end of the body.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<usize, Malformed> {
        let mut i = 0;
        while i < input.len() {
            match self {
                Chunked::Done => break,
                Chunked::Data(left) => {
                    let take = (*left).min((input.len() - i) as u64);
                    i += take as usize;
                    *left -= take;
                    if *left == 0 {
                        *self = Chunked::DataEnd;
                    }
                    continue;
                }
                _ => {}
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(i)
    }

    fn step(&mut self, byte: u8) -> Result<(), Malformed> {
        *self = match (*self, byte) {
            (state, b'\r') => state,
            (Chunked::Size { digits: 0, .. }, b'\n') => return Err(Malformed),
            (Chunked::Size { size: 0, .. }, b'\n') => Chunked::Trailer { empty: true },
            (Chunked::Size { size, .. }, b'\n') => Chunked::Data(size),
            (
                Chunked::Size {
                    size,
                    digits,
                    ext: false,
                },
                b';' | b' ' | b'\t',
            ) => Chunked::Size {
                size,
                digits,
                ext: true,
            },
            (
                Chunked::Size {
                    size,
                    digits,
                    ext: false,
                },
                _,
            ) => {
                let digit = (byte as char).to_digit(16).ok_or(Malformed)?;
                if digits >= 15 {
                    return Err(Malformed);
                }
                Chunked::Size {
                    size: size * 16 + u64::from(digit),
                    digits: digits + 1,
                    ext: false,
                }
            }
            (state @ Chunked::Size { ext: true, .. }, _) => state,
            (Chunked::DataEnd, b'\n') => Chunked::START,
            (Chunked::DataEnd, _) => return Err(Malformed),
            (Chunked::Trailer { empty: true }, b'\n') => Chunked::Done,
            (Chunked::Trailer { .. }, b'\n') => Chunked::Trailer { empty: true },
            (Chunked::Trailer { .. }, _) => Chunked::Trailer { empty: false },
            (state @ (Chunked::Data(_) | Chunked::Done), _) => state,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &str = "x-mesh5xx-flags";

    #[test]
    fn parses_status_length_and_flags() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 95\r\nX-Mesh5xx-Flags: URX,UC\r\n\r\n";
        let head = parse_head(raw, FLAGS, false).unwrap().unwrap();
        assert_eq!(head.status, 503);
        assert_eq!(head.len, raw.len());
        assert_eq!(head.framing, Framing::Length(95));
        assert!(head.keep_alive);
        assert_eq!(head.flag.as_bytes(), b"URX,UC");
    }

    #[test]
    fn partial_heads_need_more_bytes() {
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nconte", FLAGS, false),
            Ok(None)
        );
        assert_eq!(parse_head(b"garbage\r\n\r\n", FLAGS, false), Err(Malformed));
    }

    #[test]
    fn connection_close_and_http10_end_keep_alive() {
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse_head(close, FLAGS, false).unwrap().unwrap().keep_alive);
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse_head(old, FLAGS, false).unwrap().unwrap().keep_alive);
        let until_close = b"HTTP/1.1 200 OK\r\n\r\n";
        let head = parse_head(until_close, FLAGS, false).unwrap().unwrap();
        assert_eq!(
            (head.framing, head.keep_alive),
            (Framing::UntilClose, false)
        );
        let no_body = b"HTTP/1.1 204 No Content\r\n\r\n";
        let head = parse_head(no_body, FLAGS, false).unwrap().unwrap();
        assert_eq!((head.framing, head.keep_alive), (Framing::Empty, true));
    }

    #[test]
    fn chunked_bodies_decode_across_splits() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for split in 0..=body.len() - 4 {
            let mut decoder = Chunked::START;
            let first = decoder.feed(&body[..split]).unwrap();
            assert_eq!(first, split);
            let second = decoder.feed(&body[split..]).unwrap();
            assert_eq!(decoder, Chunked::Done, "split at {split}");
            assert_eq!(split + second, body.len() - 4);
        }
        let mut decoder = Chunked::START;
        assert_eq!(decoder.feed(b"zz\r\n"), Err(Malformed));
    }
}
