//! The hub serves HTTPS with rustls from PEM files; clients that trust the CA connect, and the
//! client library speaks to it through `Hub::new(url, Some(ca))`. Browsers get HTTP/2 (ALPN
//! `h2`), so one browser's tabs share one connection for their event streams.

use medshare_sandbox::{TestHub, sandbox_config};
use medshare_server::config::TlsConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_serves_tls_with_configured_certificate() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    let cert_pem = cert.cert.pem();
    std::fs::write(dir.path().join("hub.crt"), &cert_pem)?;
    std::fs::write(dir.path().join("hub.key"), cert.signing_key.serialize_pem())?;
    let mut config = sandbox_config(&dir.path().join("data"));
    config.tls = Some(TlsConfig {
        cert: dir.path().join("hub.crt"),
        key: dir.path().join("hub.key"),
    });
    let hub = TestHub::start(config).await?;
    assert!(hub.url.starts_with("https://"));

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes())?)
        .build()?;
    let res = trusting.get(format!("{}/health", hub.url)).send().await?;
    assert_eq!(res.status(), 200);

    // A client that does not trust the certificate refuses to talk.
    assert!(
        reqwest::Client::new()
            .get(format!("{}/health", hub.url))
            .send()
            .await
            .is_err()
    );

    // The client library, given the CA, reaches the hub over TLS (the alliance is not
    // initialised yet, so the hub answers with a problem, over TLS).
    let h = medshare_client::Hub::new(&hub.url, Some(cert_pem.as_bytes()))?;
    let err = medshare_client::trust::alliance_root(&h, None)
        .await
        .expect_err("not initialised");
    assert_eq!(err.code(), Some(medshare_model::ErrorCode::Unavailable));

    // A browser offering h2 gets HTTP/2, and two requests share the one connection (as a
    // browser's tabs share it for their event streams: docs/benchmarks.md §9).
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone())?;
    let mut tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let url = url::Url::parse(&hub.url)?;
    let port = url.port().expect("a port");
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect(rustls::pki_types::ServerName::try_from("localhost")?, tcp)
        .await?;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await?;
    let driver = tokio::spawn(conn);
    for _ in 0..2 {
        let mut send = send.clone();
        send.ready().await?;
        let res = send
            .send_request(
                hyper::Request::get(format!("https://localhost:{port}/health"))
                    .body(http_body_util::Empty::<bytes::Bytes>::new())?,
            )
            .await?;
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), hyper::Version::HTTP_2);
    }
    drop(send);
    driver.abort();
    hub.stop().await
}
