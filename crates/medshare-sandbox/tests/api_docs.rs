//! The OpenAPI document describes every route the hub serves, and health/readiness answer.

use medshare_sandbox::{TestHub, sandbox_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_the_api_and_health_answers() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(sandbox_config(dir.path())).await?;
    let http = reqwest::Client::new();
    let doc: serde_json::Value = http
        .get(format!("{}/openapi.json", hub.url))
        .send()
        .await?
        .json()
        .await?;
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.")
    );
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/v1/alliance",
        "/v1/enrolments/redeem",
        "/v1/auth/login",
        "/v1/search",
        "/v1/uploads/{id}",
        "/v1/uploads/{id}/parts/{offset}",
        "/v1/uploads/{id}/complete",
        "/v1/documents",
        "/v1/documents/{id}/content",
        "/v1/documents/{id}/grants/{grantee}",
        "/v1/patients/{id}/break-glass",
        "/v1/events/stream",
        "/health",
        "/ready",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    for p in ["/health", "/ready"] {
        assert_eq!(
            http.get(format!("{}{p}", hub.url)).send().await?.status(),
            200
        );
    }
    hub.stop().await
}
