//! The hub serves HTTPS with rustls from PEM files; clients that trust the CA connect, and the
//! client library speaks to it through `Hub::new(url, Some(ca))`.

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
    hub.stop().await
}
