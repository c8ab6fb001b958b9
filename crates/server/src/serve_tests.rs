//! Which runtime serves a connection: HTTP/2 ones (gRPC) on
//! `Settings::ingest_runtime`, HTTP/1.1 ones where `serve` runs, over plain
//! TCP and over TLS (where the client's ALPN offer decides).

use std::sync::Arc;

use axum::body::Bytes;
use axum::routing::get;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring};

use crate::Settings;
use crate::config::Config;
use crate::tls::Tls;

/// The ingest runtime's threads' name.
const INGEST_THREAD: &str = "test-ingest";

/// Answers the name of the thread that ran the handler.
fn app() -> axum::Router {
    axum::Router::new().route(
        "/thread",
        get(|| async { std::thread::current().name().unwrap_or("unnamed").to_owned() }),
    )
}

/// A server of [`app`] with an ingest runtime of its own, and TLS if given.
struct Served {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    ingest: tokio::runtime::Runtime,
}

async fn serve(tls: Option<Tls>) -> Served {
    let ingest = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(INGEST_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let settings = Settings {
        ingest_runtime: Some(ingest.handle().clone()),
        tls,
        ..Settings::from_config(&Config::default()).unwrap()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(listener, app(), settings, async {
        let _ = stopped.await;
    }));
    Served {
        addr,
        stop,
        server,
        ingest,
    }
}

impl Served {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        self.ingest.shutdown_background();
    }
}

/// `GET /thread` over HTTP/1.1; the body.
async fn http1(mut io: impl AsyncRead + AsyncWrite + Unpin) -> String {
    io.write_all(b"GET /thread HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    // Until the head and as many bytes of body as it announces have come.
    loop {
        let n = io.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .unwrap()
                .parse()
                .unwrap();
            if body.len() >= length {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                return body.to_owned();
            }
        }
    }
}

/// `GET /thread` over HTTP/2 with prior knowledge, as gRPC clients speak; the body.
async fn http2(io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static) -> String {
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = axum::http::Request::get("http://localhost/thread")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn http2_connections_are_served_on_the_ingest_runtime_and_http1_ones_are_not() {
    let served = serve(None).await;
    let plain = || TcpStream::connect(served.addr);
    assert_eq!(http2(plain().await.unwrap()).await, INGEST_THREAD);
    assert_ne!(http1(plain().await.unwrap()).await, INGEST_THREAD);
    served.stop().await;
}

#[tokio::test]
async fn over_tls_the_protocol_the_client_offers_decides() {
    let dir = tempfile::tempdir().unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    let served = serve(Some(Tls::from_pem_files(&cert, &key).unwrap())).await;

    let mut roots = RootCertStore::empty();
    roots.add(issued.cert.der().clone()).unwrap();
    let connect = |alpn: &'static [u8]| {
        let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let addr = served.addr;
        async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            TlsConnector::from(Arc::new(config))
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap()
        }
    };
    assert_eq!(http2(connect(b"h2").await).await, INGEST_THREAD);
    assert_ne!(http1(connect(b"http/1.1").await).await, INGEST_THREAD);
    served.stop().await;
}
