//! Plain (cleartext) HTTP serving: each connection is served by hyper's HTTP/1.1 server, or by
//! its HTTP/2 server when the client opens with the HTTP/2 preface (prior knowledge).
//!
//! `axum::serve` reads a connection's first bytes to choose the protocol and hands them back to
//! hyper through a rewinding reader, so hyper's first read of every HTTP/1.1 request returns only
//! those 24 bytes and its read buffer grows from 8 to 16 KiB: for a long-lived event stream,
//! one connection per open tab, that doubles the connection's largest allocation
//! (docs/benchmarks.md §9). Here the protocol is chosen by *peeking* at the socket, so hyper reads
//! the request itself, and each connection's task holds only its own protocol's state.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The HTTP/2 connection preface starts with the method `PRI`, which RFC 9113 §3.4 reserves so
/// that no HTTP/1.1 request can begin with it.
const H2_PREFACE_START: &[u8] = b"PRI";

/// How long a new connection may take to send the bytes that name its protocol.
const SNIFF_TIMEOUT: Duration = Duration::from_secs(30);

/// Serve `router` on `listener` until `shutdown` resolves; then stop accepting, ask every
/// connection to finish (HTTP/1.1: after its current response; HTTP/2: GOAWAY) and wait for
/// them. The caller bounds that wait (`limits.shutdown_grace_secs`).
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Every connection holds a watcher from its acceptance on; `shutdown()` signals them all and
    // waits until each has finished (hyper-util's graceful shutdown, as `axum::serve` uses).
    let graceful = GracefulShutdown::new();
    // Connections still choosing their protocol are not yet hyper's: they watch this instead.
    let stop = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // `Listener::accept` retries after errors (a full file table: it waits a second).
        let (tcp, addr) = tokio::select! {
            conn = Listener::accept(&mut listener) => conn,
            _ = &mut shutdown => break,
        };
        // Small writes (an event on a long-lived stream) go out at once rather than waiting
        // for the previous segment's acknowledgement (Nagle), as nginx's `tcp_nodelay on`.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let (router, stop, watcher) = (router.clone(), stop.clone(), graceful.watcher());
        tokio::spawn(async move {
            // A connection that has sent nothing yet (a client pool's spare connection) has no
            // request to finish: at shutdown it is closed rather than waited for.
            let sniffed = tokio::select! {
                r = is_http2(&tcp) => r,
                _ = stop.cancelled() => return,
            };
            let (io, service) = (TokioIo::new(tcp), service(router, addr));
            // The connection task is spawned per protocol, so it is as large as that
            // protocol's connection state, not the larger of the two.
            match sniffed {
                Ok(true) => {
                    let mut builder = http2::Builder::new(TokioExecutor::new());
                    // As `axum::serve` (the CONNECT protocol of RFC 8441).
                    builder.enable_connect_protocol();
                    let conn = builder.serve_connection(io, service);
                    tokio::spawn(async move { finished(watcher.watch(conn).await) });
                }
                Ok(false) => {
                    let conn = http1::Builder::new().serve_connection(io, service);
                    tokio::spawn(async move { finished(watcher.watch(conn).await) });
                }
                Err(e) => tracing::debug!(error = %e, "connection closed before its first request"),
            }
        });
    }
    drop(listener);
    stop.cancel();
    graceful.shutdown().await;
}

/// Whether the connection opens with the HTTP/2 preface, from its first bytes left unread.
async fn is_http2(tcp: &TcpStream) -> std::io::Result<bool> {
    let sniff = async {
        let mut buf = [0u8; 3];
        loop {
            let n = tcp.peek(&mut buf).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if buf[..n] != H2_PREFACE_START[..n] {
                return Ok(false);
            }
            if n == H2_PREFACE_START.len() {
                return Ok(true);
            }
            // A prefix of "PRI" arrived alone: `peek` would return it again at once.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(SNIFF_TIMEOUT, sniff)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// The router as a hyper service, with the peer's address as axum's `ConnectInfo`.
fn service(
    router: Router,
    addr: SocketAddr,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = axum::routing::future::RouteFuture<std::convert::Infallible>,
> + Clone {
    hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(addr));
        tower_service::Service::call(&mut router.clone(), req.map(Body::new))
    })
}

fn finished(r: hyper::Result<()>) {
    if let Err(e) = r {
        tracing::trace!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn app() -> Router {
        Router::new().route(
            "/who",
            axum::routing::any(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                peer.ip().to_string()
            }),
        )
    }

    /// One port serves HTTP/1.1 (even when its first bytes arrive one at a time and begin like
    /// the HTTP/2 preface) and HTTP/2 with prior knowledge, each with the peer's address; after
    /// the shutdown signal `serve` returns once its connections have finished.
    /// `serve` of [`app`] on a loopback port: its address, the stop signal, the serving task.
    async fn start() -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(serve(listener, app(), async {
            let _ = stopped.await;
        }));
        (addr, stop, served)
    }

    #[tokio::test]
    async fn serves_http1_and_http2_on_one_port_and_shuts_down() {
        let (addr, stop, served) = start().await;

        // HTTP/1.1: "P" alone could start "PRI", so the protocol is chosen on the next byte.
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        tcp.write_all(b"P").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        tcp.write_all(
            b"UT /who HTTP/1.1\r\nhost: hub\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");

        // HTTP/2 with prior knowledge.
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http2::handshake::<_, _, axum::body::Body>(
            TokioExecutor::new(),
            TokioIo::new(tcp),
        )
        .await
        .unwrap();
        let client = tokio::spawn(conn);
        let res = send
            .send_request(
                hyper::Request::get(format!("http://{addr}/who"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), hyper::Version::HTTP_2);
        let body = axum::body::to_bytes(Body::new(res.into_body()), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"127.0.0.1");

        // The HTTP/2 connection is still open: shutdown sends it GOAWAY and waits for it.
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), served)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
        drop(send);
        let _ = client.await;
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }

    /// A connection that has sent nothing (a client pool's spare connection, opened while
    /// another became free) has no request to finish: shutdown closes it at once instead of
    /// waiting for its first bytes (up to the 30 s sniffing limit).
    #[tokio::test]
    async fn shutdown_does_not_wait_for_a_silent_connection() {
        let (addr, stop, served) = start().await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        // Accepted and being sniffed.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("serve returns without waiting for the silent connection")
            .unwrap();
        let mut rest = Vec::new();
        assert_eq!(silent.read_to_end(&mut rest).await.unwrap(), 0, "closed");
    }
}
