//! One client connection: connect, send the pre-built request, read and frame the response.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::outcome::{FlagText, TransportErrorKind};
use crate::response::{parse_head, Chunked, Framing, Malformed};

/// Read buffer size; also the largest response head accepted.
const BUFFER_BYTES: usize = 32 * 1024;

/// A response as far as the load generator cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Response {
    /// Status code.
    pub(crate) status: u16,
    /// Value of the response-flags header (`-` when absent).
    pub(crate) flag: FlagText,
    /// The connection may carry another request.
    pub(crate) keep_alive: bool,
}

/// An open connection with its request bytes and read buffer.
pub(crate) struct Connection {
    stream: TcpStream,
    request: Arc<[u8]>,
    buf: Box<[u8]>,
    /// Unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Requests answered on this connection.
    pub(crate) served: u64,
    /// Original destination announced on this connection (DNS-resolving mode).
    pub(crate) dst: Option<SocketAddr>,
}

/// Open a TCP connection to `addr`, giving up at `deadline`.
pub(crate) async fn connect(
    addr: SocketAddr,
    deadline: Instant,
) -> Result<TcpStream, TransportErrorKind> {
    match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
        Err(_) => Err(TransportErrorKind::ConnectTimeout),
        Ok(Err(err)) => Err(TransportErrorKind::of_connect(&err)),
        Ok(Ok(stream)) => {
            stream
                .set_nodelay(true)
                .map_err(|_| TransportErrorKind::ConnectOther)?;
            Ok(stream)
        }
    }
}

impl Connection {
    /// Wrap a connected stream that will send `request` (announcing `dst`).
    pub(crate) fn new(stream: TcpStream, request: Arc<[u8]>, dst: Option<SocketAddr>) -> Self {
        Connection {
            stream,
            request,
            buf: vec![0; BUFFER_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            served: 0,
            dst,
        }
    }

    /// Send the request and read the whole response. After an error the connection
    /// must be dropped.
    pub(crate) async fn exchange(
        &mut self,
        flags_header: &str,
        head_request: bool,
    ) -> Result<Response, TransportErrorKind> {
        self.stream
            .write_all(&self.request)
            .await
            .map_err(|err| TransportErrorKind::of_io(&err))?;
        let head = loop {
            match parse_head(&self.buf[self.start..self.end], flags_header, head_request) {
                Ok(Some(head)) if (100..200).contains(&head.status) => self.start += head.len,
                Ok(Some(head)) => break head,
                Ok(None) => self.fill().await?,
                Err(Malformed) => return Err(TransportErrorKind::Other),
            }
        };
        self.start += head.len;
        let mut keep_alive = head.keep_alive;
        match head.framing {
            Framing::Empty => {}
            Framing::Length(mut left) => loop {
                let take = left.min((self.end - self.start) as u64);
                self.start += take as usize;
                left -= take;
                if left == 0 {
                    break;
                }
                self.fill().await?;
            },
            Framing::Chunked => {
                let mut decoder = Chunked::START;
                loop {
                    let used = decoder
                        .feed(&self.buf[self.start..self.end])
                        .map_err(|Malformed| TransportErrorKind::Other)?;
                    self.start += used;
                    if decoder == Chunked::Done {
                        break;
                    }
                    self.fill().await?;
                }
            }
            Framing::UntilClose => {
                keep_alive = false;
                loop {
                    self.start = self.end;
                    match self.read_more().await {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(err) => return Err(TransportErrorKind::of_io(&err)),
                    }
                }
            }
        }
        self.served += 1;
        Ok(Response {
            status: head.status,
            flag: head.flag,
            keep_alive,
        })
    }

    /// Read more bytes; the peer closing first is `closed_before_response`.
    async fn fill(&mut self) -> Result<(), TransportErrorKind> {
        match self.read_more().await {
            Ok(0) => Err(TransportErrorKind::ClosedBeforeResponse),
            Ok(_) => Ok(()),
            Err(err) => Err(TransportErrorKind::of_io(&err)),
        }
    }

    /// Read into the free end of the buffer, compacting it first when needed.
    async fn read_more(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start == 0 {
                return Err(io::Error::other(
                    "response head larger than the read buffer",
                ));
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}
