//! A minimal HTTP/1.1 keep-alive server answering `hello`, the reference the
//! gateway benchmark compares against. Prints `MESH5XX-READY {"addr":"127.0.0.1:PORT"}`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(serde::Serialize)]
struct Ready {
    addr: SocketAddr,
}

async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello\n"))))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    mesh5xx_process::announce_ready(&Ready {
        addr: listener.local_addr()?,
    })?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(hello));
            let _ = conn.await;
        });
    }
}
