//! Small real servers for the tests: an HTTP/1.1 server scripted per request, and a
//! UDP DNS responder answering A queries with hand-built bytes.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer `status` with an optional response-flags header.
    Respond {
        status: u16,
        flags: Option<&'static str>,
        /// Send `Connection: close` and close after the response.
        close: bool,
        delay: Duration,
    },
    /// Read the request, then close the connection without answering (FIN).
    CloseWithoutResponse,
    /// Read the request, then reset the connection (RST).
    Reset,
}

impl Action {
    /// `200` without flags header, keep-alive.
    pub fn ok() -> Self {
        Action::status(200, None)
    }

    /// `status` with `flags`, keep-alive, no delay.
    pub fn status(status: u16, flags: Option<&'static str>) -> Self {
        Action::Respond {
            status,
            flags,
            close: false,
            delay: Duration::ZERO,
        }
    }
}

/// Decides the action for the request with this index (0-based, over the whole server).
pub type Script = Arc<dyn Fn(usize) -> Action + Send + Sync>;

/// A scripted HTTP/1.1 server on 127.0.0.1:0.
pub struct HttpServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl HttpServer {
    pub async fn start(script: impl Fn(usize) -> Action + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let counter = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (accepted, requests) = (accepted.clone(), requests.clone());
            async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let (script, counter, requests) =
                        (script.clone(), counter.clone(), requests.clone());
                    tokio::spawn(serve(stream, script, counter, requests));
                }
            }
        });
        HttpServer {
            addr,
            accepted,
            requests,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Request heads received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    script: Script,
    counter: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = Vec::new();
    loop {
        let Some(head) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        requests.lock().unwrap().push(head);
        match script(counter.fetch_add(1, Ordering::SeqCst)) {
            Action::Respond {
                status,
                flags,
                close,
                delay,
            } => {
                tokio::time::sleep(delay).await;
                let mut response = format!("HTTP/1.1 {status} X\r\ncontent-length: 5\r\n");
                if let Some(flags) = flags {
                    response.push_str(&format!("x-mesh5xx-flags: {flags}\r\n"));
                }
                if close {
                    response.push_str("connection: close\r\n");
                }
                response.push_str("\r\nhello");
                if stream.write_all(response.as_bytes()).await.is_err() || close {
                    return;
                }
            }
            Action::CloseWithoutResponse => return,
            Action::Reset => {
                stream.set_zero_linger().unwrap();
                return;
            }
        }
    }
}

/// Read one request head (and its body, by content-length) off the stream.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let body = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0usize);
            while buf.len() < end + 4 + body {
                read_more(stream, buf).await?;
            }
            buf.drain(..end + 4 + body);
            return Some(head);
        }
        read_more(stream, buf).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

/// An address where nothing listens.
pub async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A UDP DNS server answering every A query with the current address (NXDOMAIN when none).
pub struct DnsServer {
    pub addr: SocketAddr,
    answer: Arc<Mutex<Option<Ipv4Addr>>>,
    queries: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl DnsServer {
    pub async fn start(answer: Option<Ipv4Addr>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let answer = Arc::new(Mutex::new(answer));
        let queries = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (answer, queries) = (answer.clone(), queries.clone());
            async move {
                let mut buf = [0; 512];
                loop {
                    let (n, peer) = socket.recv_from(&mut buf).await.unwrap();
                    queries.fetch_add(1, Ordering::SeqCst);
                    let ip = *answer.lock().unwrap();
                    if let Some(reply) = dns_reply(&buf[..n], ip) {
                        socket.send_to(&reply, peer).await.unwrap();
                    }
                }
            }
        });
        DnsServer {
            addr,
            answer,
            queries,
            task,
        }
    }

    pub fn set_answer(&self, ip: Option<Ipv4Addr>) {
        *self.answer.lock().unwrap() = ip;
    }

    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The reply to `query`: its question echoed, plus one A record (or NXDOMAIN).
fn dns_reply(query: &[u8], ip: Option<Ipv4Addr>) -> Option<Vec<u8>> {
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += 1 + usize::from(query[end]);
    }
    let question = query.get(12..end + 5)?;
    let mut reply = Vec::with_capacity(64);
    reply.extend_from_slice(&query[..2]);
    let rcode = if ip.is_some() { 0x80 } else { 0x83 };
    reply.extend_from_slice(&[0x81, rcode, 0, 1, 0, u8::from(ip.is_some()), 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if let Some(ip) = ip {
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        reply.extend_from_slice(&ip.octets());
    }
    Some(reply)
}
