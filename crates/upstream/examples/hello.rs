//! A plain hyper "hello" server: the baseline `mesh5xx upstream` is benchmarked against.
//!
//! `cargo run --release -p mesh5xx-upstream --example hello [THREADS]` binds 127.0.0.1:0,
//! prints the READY line like `mesh5xx upstream` does, and serves until killed.
//! THREADS (default 1) picks the runtime the same way `mesh5xx upstream --threads` does.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok\n"))))
}

fn main() -> std::io::Result<()> {
    let threads: usize = std::env::args()
        .nth(1)
        .map_or(1, |t| t.parse().expect("THREADS is a number"));
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let ready = mesh5xx_upstream::Ready {
            addr: listener.local_addr()?,
            pid: std::process::id(),
        };
        mesh5xx_process::announce_ready(&ready)?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    })
}
