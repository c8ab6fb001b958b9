//! A blocking HTTP/1.1 client that keeps its connection open, as Zipkin
//! reporters do (zipkin-reporter's senders, the OpenTelemetry exporters'
//! sessions): the ingest benchmark should spend the server's CPU on spans,
//! not on a TCP handshake per request.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::Context as _;

/// One kept-alive connection to the server.
pub(crate) struct KeepAlive {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
    head: String,
}

impl KeepAlive {
    /// Connects to `addr`.
    pub(crate) fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).context("connect")?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            addr,
            reader: BufReader::new(stream),
            head: String::new(),
        })
    }

    /// POSTs `body` to `path` and returns the status and the response body.
    pub(crate) fn post(&mut self, path: &str, content_type: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(request.as_bytes()).context("send head")?;
        stream.write_all(body).context("send body")?;

        let mut status = None;
        let mut length = 0usize;
        loop {
            self.head.clear();
            let read = self.reader.read_line(&mut self.head).context("read head")?;
            anyhow::ensure!(read > 0, "the server closed the connection");
            let line = self.head.trim_end();
            if line.is_empty() {
                break;
            }
            if status.is_none() {
                status = line.split(' ').nth(1).and_then(|code| code.parse().ok());
                anyhow::ensure!(status.is_some(), "bad status line {line:?}");
            } else if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().context("parse Content-Length")?;
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).context("read body")?;
        let status = status.context("no status line")?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}
