//! A listener that admits a connection to the HTTP stack only once it has
//! shown its first bytes, within a deadline.
//!
//! hyper's protocol detection waits for the 24-byte HTTP/2 preface with no
//! time limit, so a client that sends half of it and stalls would hold a task
//! and a socket forever. Here each new connection reads bytes until they stop
//! matching the preface (at once for any HTTP/1 request: no method starts with
//! `PRI`) or the whole preface has arrived; a connection that does neither
//! within the deadline is closed. The bytes read are replayed to hyper.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::server::{Acceptor, ClientHello};
use tokio_rustls::{LazyConfigAcceptor, StartHandshake};

use crate::tls::Tls;

const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection's byte stream: plain TCP, or TLS over it.
#[derive(Debug)]
enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Plain(stream) => stream.is_write_vectored(),
            Transport::Tls(stream) => stream.is_write_vectored(),
        }
    }
}

/// A connection with bytes already read from it put back in front.
#[derive(Debug)]
pub struct ReplayStream {
    replay: Vec<u8>,
    replayed: usize,
    inner: Transport,
    /// The runtime its socket was moved to, if not the accepting one's.
    runtime: Option<Handle>,
    _open: OpenConnection,
    /// Its place among `max-connections`, given back when it closes.
    _slot: OwnedSemaphorePermit,
}

impl ReplayStream {
    /// The runtime whose reactor this connection's socket is registered
    /// with, when it is not the one that accepted it: the connection is
    /// best served by a task there.
    pub fn runtime(&self) -> Option<&Handle> {
        self.runtime.as_ref()
    }
}

/// Registers `stream` with `runtime`'s reactor instead of the current one
/// (none: leaves it), so that its readiness is noticed by that runtime's
/// workers.
fn move_to(stream: TcpStream, runtime: Option<&Handle>) -> io::Result<TcpStream> {
    let Some(runtime) = runtime else { return Ok(stream) };
    let socket = stream.into_std()?;
    let _entered = runtime.enter();
    TcpStream::from_std(socket)
}

/// Whether a TLS client offers HTTP/2: it will speak it, as the server
/// prefers `h2`.
fn offers_h2(hello: &ClientHello<'_>) -> bool {
    hello
        .alpn()
        .is_some_and(|mut protocols| protocols.any(|protocol| protocol == b"h2"))
}

/// Counts a connection in the open-connections gauge while it lives.
#[derive(Debug)]
struct OpenConnection(Gauge);

impl OpenConnection {
    fn new(gauge: Gauge) -> OpenConnection {
        gauge.inc();
        OpenConnection(gauge)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl AsyncRead for ReplayStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.replayed < this.replay.len() {
            let rest = &this.replay[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ReplayStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Reads until the bytes are known not to be an HTTP/2 preface, or are a whole one.
async fn read_opening(stream: &mut Transport) -> io::Result<Vec<u8>> {
    let mut opening = Vec::with_capacity(HTTP2_PREFACE.len());
    while opening.len() < HTTP2_PREFACE.len() && HTTP2_PREFACE.starts_with(&opening) {
        let mut chunk = [0u8; 24];
        let wanted = HTTP2_PREFACE.len() - opening.len();
        let n = stream.read(&mut chunk[..wanted]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        opening.extend_from_slice(&chunk[..n]);
    }
    Ok(opening)
}

/// The listener the connection loop (`serve.rs`) takes screened connections from.
pub struct ScreenedListener {
    admitted: mpsc::Receiver<(ReplayStream, SocketAddr)>,
    acceptor: JoinHandle<()>,
}

impl ScreenedListener {
    /// Starts accepting on `listener`; `deadline` bounds each connection's
    /// opening; `open` counts the connections open; `slots` bounds them: with
    /// none free, nothing is accepted (new connections wait in the kernel's
    /// backlog, and are refused once it is full) until one closes. With
    /// `http2_runtime`, connections speaking HTTP/2 (gRPC) are moved to that
    /// runtime's reactor ([`ReplayStream::runtime`]).
    pub fn new(
        listener: TcpListener,
        deadline: Duration,
        open: Gauge,
        slots: Arc<Semaphore>,
        tls: Option<Tls>,
        http2_runtime: Option<Handle>,
    ) -> ScreenedListener {
        let (admit, admitted) = mpsc::channel(256);
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    // Closed only if the server is going away.
                    return;
                };
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Small RPC replies must not wait for Nagle's algorithm.
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "could not set TCP_NODELAY");
                }
                let admit = admit.clone();
                let open = OpenConnection::new(open.clone());
                let tls = tls.clone();
                let http2_runtime = http2_runtime.clone();
                tokio::spawn(async move {
                    // The TLS handshake and the protocol's opening share the deadline.
                    let opened = tokio::time::timeout(deadline, async move {
                        let (mut stream, runtime) = match tls {
                            None => (Transport::Plain(stream), None),
                            Some(tls) => {
                                // The client's hello says which protocol it will speak
                                // (ALPN); the socket moves before the handshake, as a
                                // TLS stream cannot move once made.
                                let start = LazyConfigAcceptor::new(Acceptor::default(), stream).await?;
                                let runtime = http2_runtime.clone().filter(|_| offers_h2(&start.client_hello()));
                                let StartHandshake { accepted, io, .. } = start;
                                let io = move_to(io, runtime.as_ref())?;
                                let config = tls.acceptor().config().clone();
                                let stream = StartHandshake::from_parts(accepted, io).into_stream(config).await?;
                                (Transport::Tls(Box::new(stream)), runtime)
                            }
                        };
                        let replay = read_opening(&mut stream).await?;
                        let runtime = match stream {
                            Transport::Plain(plain) if replay == HTTP2_PREFACE => {
                                stream = Transport::Plain(move_to(plain, http2_runtime.as_ref())?);
                                http2_runtime
                            }
                            _ => runtime,
                        };
                        Ok::<_, io::Error>((stream, replay, runtime))
                    });
                    match opened.await {
                        Ok(Ok((stream, replay, runtime))) => {
                            let stream = ReplayStream {
                                replay,
                                replayed: 0,
                                inner: stream,
                                runtime,
                                _open: open,
                                _slot: slot,
                            };
                            let _ = admit.send((stream, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "connection closed before its first request"),
                        Err(_) => {
                            tracing::info!(%peer, ?deadline, "closing a connection that sent no complete opening")
                        }
                    }
                });
            }
        });
        ScreenedListener { admitted, acceptor }
    }

    /// The next screened connection.
    pub async fn next(&mut self) -> (ReplayStream, SocketAddr) {
        match self.admitted.recv().await {
            Some(admitted) => admitted,
            // The acceptor only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }
}

impl Drop for ScreenedListener {
    fn drop(&mut self) {
        // Stop accepting when the server stops.
        self.acceptor.abort();
    }
}
