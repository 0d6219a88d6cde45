//! The server-first line protocol of the `server-first` fault: the banner on accept, then
//! `250 LINE` for every line the client sends, until it closes.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::report::{CloseReason, ConnRecord};

/// Longest line read; a longer one closes the connection.
const MAX_LINE: usize = 4096;

/// Serve `stream`: write `banner` (a line with its CRLF) at once, then answer each line.
/// Each line counts as a request.
pub(crate) async fn serve(stream: TcpStream, banner: &str, record: &ConnRecord) -> CloseReason {
    let (read, mut write) = stream.into_split();
    if write.write_all(banner.as_bytes()).await.is_err() {
        return CloseReason::Error;
    }
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut read)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) => return CloseReason::Peer,
            Ok(_) if line.ends_with(b"\n") => {}
            Ok(_) => return CloseReason::Error,
            Err(_) => return CloseReason::Peer,
        }
        record.request();
        let text = line.trim_ascii_end();
        let mut answer = Vec::with_capacity(text.len() + 6);
        answer.extend_from_slice(b"250 ");
        answer.extend_from_slice(text);
        answer.extend_from_slice(b"\r\n");
        if write.write_all(&answer).await.is_err() {
            return CloseReason::Peer;
        }
    }
}
