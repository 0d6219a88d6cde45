//! An HTTP/2 connection preface sent to the HTTP/1.1 app: answered and closed with
//! `http1-only`, closed without a word without it; HTTP/1.1 requests are served either way.

use mesh5xx_upstream::faults::Http1Only;
use mesh5xx_upstream::AppFaults;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::{ms, server_with, Client};

/// The preface and an empty SETTINGS frame, as an HTTP/2 client sends them first.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Everything the server sends on a connection opened with the preface until it closes, and
/// whether the close was a reset.
async fn answer_to_preface(faults: AppFaults) -> (String, bool) {
    let srv = server_with(faults).await;
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(PREFACE).await.unwrap();
    let mut got = Vec::new();
    let reset = timeout(ms(2000), s.read_to_end(&mut got))
        .await
        .expect("the app closes the connection")
        .is_err();
    let mut c = Client::connect(srv.addr()).await;
    assert_eq!(c.get().await.status, 200, "HTTP/1.1 still served");
    srv.shutdown().await.unwrap();
    (String::from_utf8(got).unwrap(), reset)
}

#[tokio::test]
async fn http1_only_answers_the_preface_with_its_status_and_closes() {
    let (got, reset) = answer_to_preface(AppFaults::new().with(Http1Only { status: 505 })).await;
    // The close lingers: the rest of the client's frames are read, so no reset cuts the answer.
    assert!(!reset);
    assert!(
        got.starts_with("HTTP/1.1 505 HTTP Version Not Supported\r\n"),
        "{got:?}"
    );
    assert!(got.contains("\r\nconnection: close\r\n"), "{got:?}");
}

#[tokio::test]
async fn without_it_the_app_closes_without_an_answer() {
    assert_eq!(answer_to_preface(AppFaults::new()).await.0, "");
}
