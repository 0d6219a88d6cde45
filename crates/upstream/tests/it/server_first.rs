//! `server-first`: the app writes its banner before the client says anything, then answers
//! each line; each line counts as a request.

use mesh5xx_upstream::faults::ServerFirst;
use mesh5xx_upstream::AppFaults;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::{ms, server_with};

#[tokio::test]
async fn the_banner_comes_first_then_each_line_is_answered() {
    let banner = "220 mail.example ESMTP";
    let srv = server_with(AppFaults::new().with(ServerFirst {
        banner: banner.into(),
    }))
    .await;
    let s = TcpStream::connect(srv.addr()).await.unwrap();
    let (read, mut write) = s.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    // Nothing sent yet: the banner arrives on its own.
    timeout(ms(2000), read.read_line(&mut line))
        .await
        .expect("the banner arrives unasked")
        .unwrap();
    assert_eq!(line, format!("{banner}\r\n"));
    for word in ["EHLO client", "QUIT"] {
        write
            .write_all(format!("{word}\r\n").as_bytes())
            .await
            .unwrap();
        line.clear();
        timeout(ms(2000), read.read_line(&mut line))
            .await
            .expect("an answer")
            .unwrap();
        assert_eq!(line, format!("250 {word}\r\n"));
    }
    drop(write);
    drop(read);
    let report = srv.shutdown().await.unwrap();
    assert_eq!(report.requests, 2);
    assert_eq!(report.connections_opened, 1);
}
